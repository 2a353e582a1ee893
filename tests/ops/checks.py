"""The container files checked against the repository; each check returns its problems.

What an image may run is derived, not listed: the console scripts of this project
(``[project.scripts]``) and of the distributions the image's ``pip install`` names
(the project's dependencies and the extras it installs, as installed in this virtualenv).
Which ``ACCORD_`` variables exist and which production requires come from
gateway.settings itself. An empty list means no problem; the tests also feed broken
files to the same functions and expect the problem named.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import tomllib
import warnings
from collections.abc import Iterable, Mapping, Sequence
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any
from unittest import mock

import click
import typer
from packaging.requirements import Requirement

from gateway.settings import (
    ENV_PREFIX,
    NOT_SETTINGS_PREFIXES,
    Settings,
    SettingsError,
    load_settings,
)
from tests.ops import compose as compose_file
from tests.ops.dockerfile import Image, copy_of, healthcheck_command, ignore_patterns, is_ignored

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = ROOT / "pyproject.toml"
CPU_INDEX = "https://download.pytorch.org/whl/cpu"
_ACCORD_VARIABLE = re.compile(r"\bACCORD_[A-Z0-9_]+")
_PIP_INSTALL = re.compile(r"\bpip\s+install\b")


@cache
def project() -> dict[str, Any]:
    with PYPROJECT.open("rb") as handle:
        loaded: dict[str, Any] = tomllib.load(handle)["project"]
    return loaded


# --- the build context ----------------------------------------------------------------


def _files_under(context: Path, directory: Path) -> list[str]:
    """Source files under a directory: what git tracks or would (not what it ignores)."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z", "--", "."],
            cwd=directory,
            capture_output=True,
            check=True,
        ).stdout.decode()
        names = [directory / name for name in listed.split("\0") if name]
    except (OSError, subprocess.CalledProcessError):
        names = [p for p in directory.rglob("*") if "__pycache__" not in p.parts]
    return [p.relative_to(context).as_posix() for p in names if p.is_file()]


def copy_problems(image: Image, dockerignore: str) -> list[str]:
    """Every COPY/ADD source (not --from a stage) exists in the context and is not ignored."""
    patterns = ignore_patterns(dockerignore)
    problems = []
    for instruction in image.instructions():
        if instruction.keyword not in {"COPY", "ADD"}:
            continue
        copy = copy_of(instruction)
        if "from" in copy.flags:
            continue
        where = f"{image.dockerfile.name}:{copy.line}"
        if not copy.sources:
            problems.append(f"{where}: {instruction.keyword} without a source")
        for source in copy.sources:
            if source.startswith("/") or ".." in Path(source).parts:
                problems.append(f"{where}: {source} is outside the build context")
                continue
            found = sorted(image.context.glob(source)) if any(c in source for c in "*?[") else []
            found = found or [image.context / source]
            for path in found:
                rel = path.relative_to(image.context).as_posix()
                if not path.exists():
                    problems.append(f"{where}: {rel} does not exist in the build context")
                elif is_ignored(rel, patterns):
                    problems.append(f"{where}: {rel} is excluded by .dockerignore")
                elif path.is_dir():
                    dropped = [
                        f for f in _files_under(image.context, path) if is_ignored(f, patterns)
                    ]
                    if dropped:
                        problems.append(f"{where}: .dockerignore drops {', '.join(dropped[:3])}")
    return problems


# --- what an image can run ------------------------------------------------------------


def installed_requirements(image: Image) -> list[Requirement]:
    """Direct requirements the image's ``pip install`` lines bring: deps, extras, pins."""
    requirements = [Requirement(r) for r in project()["dependencies"]]
    extras = project().get("optional-dependencies", {})
    for instruction in image.instructions():
        if instruction.keyword != "RUN" or not _PIP_INSTALL.search(instruction.value):
            continue
        for match in re.finditer(r"""(?:^|\s)["']?\.\[([\w,-]+)\]""", instruction.value):
            for extra in match.group(1).split(","):
                requirements += [Requirement(r) for r in extras.get(extra, [])]
    return requirements


def console_scripts(image: Image) -> dict[str, metadata.EntryPoint]:
    scripts = {
        name: metadata.EntryPoint(name, value, "console_scripts")
        for name, value in project().get("scripts", {}).items()
    }
    for requirement in installed_requirements(image):
        try:
            entry_points = metadata.distribution(requirement.name).entry_points
        except metadata.PackageNotFoundError:
            continue
        scripts.update({ep.name: ep for ep in entry_points if ep.group == "console_scripts"})
    return scripts


def _click_problems(root: click.Command, argv: Sequence[str]) -> list[str]:
    """Parse argv with the command's own parser (no callback runs)."""
    command, name, args = root, argv[0], list(argv[1:])
    parent: click.Context | None = None
    while isinstance(command, click.Group):
        if not args or args[0].startswith("-"):
            return [f"`{name}` needs a subcommand"]
        parent = click.Context(command, info_name=name, parent=parent)
        sub = command.get_command(parent, args[0])
        if sub is None:
            return [f"`{name} {args[0]}`: no such command"]
        command, name, args = sub, f"{name} {args[0]}", args[1:]
    try:
        command.make_context(name, args, parent=parent)
    except click.ClickException as exc:
        return [f"`{' '.join(argv)}`: {exc.format_message()}"]
    return []


@cache
def _help_flags(executable: str) -> frozenset[str]:
    """The --flags an argparse program's --help lists (run from this virtualenv)."""
    env = {**os.environ, "FLWR_TELEMETRY_ENABLED": "0", "FLWR_DISABLE_UPDATE_CHECK": "1"}
    done = subprocess.run(
        [str(Path(sys.executable).parent / executable), "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    return frozenset(re.findall(r"(?<![\w-])--[a-z0-9][a-z0-9-]*", done.stdout))


def _click_parser(executable: str, entry_point: metadata.EntryPoint) -> click.Command | None:
    """The click command behind a console script, when it is one (typer or click)."""
    if executable == "accord":
        from gateway.cli import app  # noqa: PLC0415 - imported only when checked

        return typer.main.get_command(app)
    with warnings.catch_warnings():  # a third-party CLI's own deprecations are not ours
        warnings.simplefilter("ignore", DeprecationWarning)
        target = entry_point.load()
    if isinstance(target, typer.Typer):
        return typer.main.get_command(target)
    return target if isinstance(target, click.Command) else None


def argv_problems(argv: Sequence[str], scripts: Mapping[str, metadata.EntryPoint]) -> list[str]:
    """argv[0] is a console script the image has; its subcommands and options exist."""
    if not argv:
        return ["no command to run"]
    executable = argv[0]
    if executable in {"python", "python3"}:
        return []
    if executable not in scripts:
        return [f"{executable}: not a console script of this image ({', '.join(sorted(scripts))})"]
    parser = _click_parser(executable, scripts[executable])
    if parser is not None:
        return _click_problems(parser, argv)
    known = _help_flags(executable)
    flags = [word.partition("=")[0] for word in argv[1:] if word.startswith("--")]
    return [f"{executable}: no option {flag}" for flag in flags if flag not in known]


def service_argv(service: Mapping[str, Any], image: Image) -> list[str]:
    """What a container runs: compose's entrypoint/command over the image's.

    Setting ``entrypoint`` in compose also clears the image's CMD (Compose Specification).
    """
    entrypoint = compose_file.words(service.get("entrypoint"))
    command = compose_file.words(service.get("command"))
    if entrypoint is None:
        entrypoint = image.entrypoint()
        command = image.cmd() if command is None else command
    return [*entrypoint, *(command or [])]


def healthcheck_problems(argv: Sequence[str], image: Image) -> list[str]:
    """A ``python <script>`` healthcheck runs a script the final stage copied in."""
    script = argv[1] if len(argv) >= 2 and argv[0] in {"python", "python3"} else ""
    if script.startswith("/") and script not in image.copied():
        return [f"healthcheck script {argv[1]} is not copied into {image.dockerfile.name}"]
    return argv_problems(argv, console_scripts(image))


def image_healthcheck(image: Image) -> list[str] | None:
    instruction = image.last("HEALTHCHECK")
    return healthcheck_command(instruction) if instruction else None


# --- the image's user and its torch -------------------------------------------------


def user_problems(image: Image) -> list[str]:
    instruction = image.last("USER")
    if instruction is None:
        return [f"{image.dockerfile.name}: the final stage runs as root (no USER)"]
    user = instruction.value.split(":")[0].strip()
    if not user.isdigit():
        return [f"{image.dockerfile.name}: USER {user} is not a numeric uid"]
    if int(user) == 0:
        return [f"{image.dockerfile.name}: USER {user} is root"]
    return []


def torch_pin() -> str:
    """The torch version the federation extra pins (``torch==X``)."""
    for spec in project()["optional-dependencies"]["federation"]:
        requirement = Requirement(spec)
        if requirement.name == "torch":
            (specifier,) = requirement.specifier
            assert specifier.operator == "==", spec
            return specifier.version
    raise AssertionError("the federation extra does not pin torch")


def torch_problems(image: Image, pin: str) -> list[str]:
    """torch==pin from the CPU index, installed before anything that depends on it."""
    runs = [i for i in image.instructions() if i.keyword == "RUN" and _PIP_INSTALL.search(i.value)]
    torch_runs = [i for i in runs if re.search(r"(?<![\w-])torch\b", i.value)]
    if not torch_runs:
        return [f"{image.dockerfile.name}: no pip install of torch"]
    first = torch_runs[0]
    problems = []
    if not re.search(rf"(?<![\w-])torch=={re.escape(pin)}(?![\w.+])", first.value):
        problems.append(f"line {first.line}: torch is not pinned to =={pin}")
    if not re.search(rf"--index-url[= ]{re.escape(CPU_INDEX)}/?(?:\s|$)", first.value):
        problems.append(f"line {first.line}: torch does not come from {CPU_INDEX} (--index-url)")
    if "--extra-index-url" in first.value:
        problems.append(f"line {first.line}: --extra-index-url lets pip pick a CUDA torch")
    problems += [
        f"line {run.line}: installs before torch (a dependency could pull a CUDA build)"
        for run in runs
        if run.line < first.line
    ]
    return problems


def constraints_problems(image: Image) -> list[str]:
    """Every pip install of the project's requirements goes through the constraints."""
    return [
        f"{image.dockerfile.name}:{run.line}: pip install without -c requirements/constraints.txt"
        for run in image.instructions()
        if run.keyword == "RUN"
        and _PIP_INSTALL.search(run.value)
        and "torch==" not in run.value
        and "-c requirements/constraints.txt" not in run.value
    ]


# --- settings -------------------------------------------------------------------------


def setting_variables() -> set[str]:
    return {ENV_PREFIX + name.upper() for name in Settings.model_fields}


def unknown_variables(text: str, source: str) -> list[str]:
    """ACCORD_ names in a file that are not settings (load_settings refuses those)."""
    known = setting_variables()
    return [
        f"{source}: {name} is not a setting of gateway.settings.Settings"
        for name in sorted(set(_ACCORD_VARIABLE.findall(text)))
        if name not in known and not name.startswith(NOT_SETTINGS_PREFIXES)
    ]


def settings_problems(env: Mapping[str, str]) -> list[str]:
    """What load_settings says in a process whose ACCORD_ variables are exactly ``env``."""
    others = {k: v for k, v in os.environ.items() if not k.upper().startswith(ENV_PREFIX)}
    with mock.patch.dict(os.environ, {**others, **env}, clear=True):
        try:
            load_settings()
        except SettingsError as exc:
            return exc.problems
    return []


def required_in_production() -> set[str]:
    """The variables production refuses to start without (its unsafe defaults)."""
    problems = settings_problems({f"{ENV_PREFIX}ENV": "production"})
    return {name for problem in problems for name in _ACCORD_VARIABLE.findall(problem)}


def secret_source_problems(
    service: str, raw_env: Mapping[str, str], required: Iterable[str]
) -> list[str]:
    """Each variable production requires is set, from the operator's ${VAR:?} alone."""
    problems = []
    for name in sorted(required):
        if name not in raw_env:
            problems.append(f"{service}: {name} is not set")
            continue
        refs = compose_file.references(raw_env[name])
        if not refs or not all(ref.required for ref in refs):
            problems.append(
                f"{service}: {name} must come from ${{{name}:?…}}, not a literal or a default"
            )
    return problems


# --- the compose file -----------------------------------------------------------------


def dependency_problems(model: Mapping[str, Any]) -> list[str]:
    """depends_on names services; service_healthy waits only on a service with a healthcheck."""
    services = model.get("services", {})
    problems = []
    for name, service in services.items():
        for target, condition in compose_file.depends_on(service).items():
            if target not in services:
                problems.append(f"{name}: depends on {target}, which is not a service")
            elif condition == "service_healthy" and not _has_healthcheck(services[target]):
                problems.append(f"{name}: waits for {target} to be healthy; it has no healthcheck")
    return problems


def _has_healthcheck(service: Mapping[str, Any]) -> bool:
    check = service.get("healthcheck") or {}
    return bool(check.get("test")) and not check.get("disable", False)


def missing_healthchecks(model: Mapping[str, Any], names: Iterable[str]) -> list[str]:
    services = model.get("services", {})
    return [
        f"{name}: no healthcheck" if name in services else f"{name}: no such service"
        for name in names
        if name not in services or not _has_healthcheck(services[name])
    ]


def build_problems(model: Mapping[str, Any], root: Path) -> list[str]:
    problems = []
    for name, service in model.get("services", {}).items():
        build = service.get("build")
        if build is None:
            if "image" not in service:
                problems.append(f"{name}: neither build nor image")
            continue
        spec = {"context": build} if isinstance(build, str) else build
        context = root / spec.get("context", ".")
        dockerfile = context / spec.get("dockerfile", "Dockerfile")
        if not context.is_dir():
            problems.append(f"{name}: build context {spec.get('context')} is not a folder")
        elif not dockerfile.is_file():
            problems.append(f"{name}: no Dockerfile at {dockerfile.relative_to(root)}")
    return problems


def images(model: Mapping[str, Any], root: Path) -> dict[str, Image]:
    """The image each built service runs, by service name."""
    built = {}
    for name, service in model.get("services", {}).items():
        build = service.get("build")
        if build is None:
            continue
        spec = {"context": build} if isinstance(build, str) else build
        context = (root / spec.get("context", ".")).resolve()
        dockerfile = context / spec.get("dockerfile", "Dockerfile")
        if dockerfile.is_file():  # else build_problems names it
            built[name] = Image.load(dockerfile, context)
    return built


def published_port_problems(name: str, service: Mapping[str, Any], image: Image) -> list[str]:
    problems = []
    for port in service.get("ports", []):
        target = port.get("target") if isinstance(port, dict) else str(port).rsplit(":", 1)[-1]
        number = int(str(target).split("/")[0])
        if number not in image.exposed():
            problems.append(f"{name}: publishes {number}, which its image does not EXPOSE")
    return problems


# --- the federation: one SuperLink, SuperNodes for every partition, the run -----------


def _option(argv: Sequence[str], flag: str) -> str | None:
    for i, word in enumerate(argv):
        if word == flag and i + 1 < len(argv):
            return argv[i + 1]
        if word.startswith(flag + "="):
            return word.partition("=")[2]
    return None


def _pairs(text: str | None) -> dict[str, str]:
    return dict(word.partition("=")[::2] for word in shlex.split(text or ""))


def federation_problems(
    argvs: Mapping[str, Sequence[str]],
    copied: Mapping[str, set[str]],
    flwr_config: Mapping[str, Any],
    app_config: Mapping[str, Any],
) -> list[str]:
    """SuperNodes reach the SuperLink and cover partitions 0..n-1; runs expect n platforms."""
    links = {n: a for n, a in argvs.items() if a[:1] == ["flower-superlink"]}
    nodes = {n: a for n, a in argvs.items() if a[:1] == ["flower-supernode"]}
    runs = {n: a for n, a in argvs.items() if list(a[:2]) == ["flwr", "run"]}
    if len(links) != 1:
        return [f"{len(links)} SuperLinks; the alliance has one"]
    ((link, link_argv),) = links.items()
    address = f"{link}:{_option(link_argv, '--port') or '8000'}"
    problems = []
    ids = []
    for name, argv in nodes.items():
        if _option(argv, "--superlink") != address:
            problems.append(f"{name}: --superlink is not {address}")
        config = _pairs(_option(argv, "--node-config"))
        if config.get("num-partitions") != str(len(nodes)):
            problems.append(f"{name}: num-partitions is not {len(nodes)}, the SuperNodes there are")
        ids.append(config.get("partition-id", "?"))
    if sorted(ids) != [str(i) for i in range(len(nodes))]:
        problems.append(f"partition ids {sorted(ids)} are not 0..{len(nodes) - 1}")
    for name, argv in runs.items():
        app, connection = [*argv[2:4], "", ""][:2]
        if app not in copied.get(name, set()):
            problems.append(f"{name}: {app} is not copied into its image")
        target = flwr_config.get("superlink", {}).get(connection, {})
        if target.get("address") != address:
            problems.append(f"{name}: connection {connection!r} does not point at {address}")
        overrides = _pairs(_option(argv, "--run-config"))
        problems += [
            f"{name}: {k} is not in the app's config" for k in overrides if k not in app_config
        ]
        for key in ("platforms", "min-nodes"):
            if str(overrides.get(key, app_config.get(key))) != str(len(nodes)):
                problems.append(f"{name}: {key} is not {len(nodes)}, the SuperNodes there are")
    return problems
