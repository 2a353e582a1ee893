"""The images and compose.yaml, validated statically (no container engine runs here).

The compose file passes the Compose Specification's schema; every build context,
Dockerfile and COPY source exists and reaches the build context; every entrypoint is a
console script the image installs, with subcommands and options its parser accepts;
every ACCORD_ variable is a setting and production's required ones come from the
operator; the images run as non-root; torch is the pinned CPU build. Each property has
a negative case: a broken file fed to the same check must be named.
"""

from __future__ import annotations

import hashlib
import http.server
import importlib.util
import re
import secrets
import threading
import tomllib
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from gateway.settings import DEV_SECRETS, ENV_PREFIX
from tests.ops import checks
from tests.ops import compose as compose_file
from tests.ops.dockerfile import Image, ignore_patterns, is_ignored, parse

ROOT = checks.ROOT
COMPOSE = ROOT / "compose.yaml"
DOCKER = ROOT / "docker"
DOCKERFILES = sorted(DOCKER.glob("*.Dockerfile"))
DOCKERIGNORE = (ROOT / ".dockerignore").read_text(encoding="utf-8")
ENV_EXAMPLE = DOCKER / "compose.env.example"
STATEFUL = ("gateway", "postgres", "redis", "superlink")


def _host_env(raw: dict[str, Any]) -> dict[str, str]:
    """What an operator's .env gives: a value for every variable compose requires."""
    env = {name: secrets.token_urlsafe(32) for name in compose_file.required_variables(raw)}
    if f"{ENV_PREFIX}ISSUER" in env:
        env[f"{ENV_PREFIX}ISSUER"] = "https://accord.example.org"
    return env


RAW = compose_file.load(COMPOSE)
HOST_ENV = _host_env(RAW)
MODEL = compose_file.interpolate(RAW, HOST_ENV)
SERVICES: dict[str, Any] = MODEL["services"]
IMAGES = checks.images(MODEL, ROOT)


def _image(text: str, name: str = "broken.Dockerfile") -> Image:
    return Image(ROOT / "docker" / name, ROOT, parse(text))


def _image_of(dockerfile: Path) -> Image:
    return Image.load(dockerfile, ROOT)


# --- the compose file -----------------------------------------------------------------


def test_compose_file_passes_the_compose_specification() -> None:
    assert compose_file.schema_problems(MODEL) == []
    assert set(STATEFUL) | {"supernode-0", "supernode-1", "demo"} <= set(SERVICES)


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        pytest.param(("services", "gateway", "buidl"), {}, "buidl", id="unknown-key"),
        pytest.param(("services", "redis", "healthcheck"), ["ping"], "not of type", id="type"),
        pytest.param(
            ("services", "gateway", "depends_on", "postgres", "condition"),
            "service_ready",
            "service_ready",
            id="enum",
        ),
    ],
)
def test_the_schema_names_a_broken_compose_file(
    path: tuple[str, ...], value: object, expected: str
) -> None:
    broken = compose_file.interpolate(RAW, HOST_ENV)
    node = broken
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    problems = compose_file.schema_problems(broken)
    assert problems and any(expected in p for p in problems), problems


def test_the_vendored_schema_is_the_recorded_one() -> None:
    recorded = (Path(__file__).with_name("README.md")).read_text(encoding="utf-8")
    digest = hashlib.sha256(compose_file.SCHEMA.read_bytes()).hexdigest()
    assert f"`{digest}`" in recorded


def test_compose_refuses_to_start_without_the_operators_values() -> None:
    required = compose_file.required_variables(RAW)
    with pytest.raises(compose_file.InterpolationError):
        compose_file.interpolate(RAW, {})
    # docker/compose.env.example names exactly those, empty, to be filled in.
    lines = ENV_EXAMPLE.read_text(encoding="utf-8").splitlines()
    named = dict(line.partition("=")[::2] for line in lines if re.match(r"^[A-Z_]+=", line))
    assert set(named) == required
    assert all(value == "" for value in named.values())


def test_interpolation_follows_the_specification() -> None:
    env = {"SET": "x", "EMPTY": ""}
    assert compose_file.interpolate_text("${SET:-d}-${EMPTY:-d}-${EMPTY-d}-${UNSET-d}", env) == (
        "x-d--d"
    )
    assert compose_file.interpolate_text("$$SET ${SET:+alt}${EMPTY:+alt} $SET", env) == "$SET alt x"
    with pytest.raises(compose_file.InterpolationError, match="EMPTY: say so"):
        compose_file.interpolate_text("${EMPTY:?say so}", env)
    assert compose_file.interpolate_text("${EMPTY?fine}", env) == ""


def test_dependencies_exist_and_wait_only_on_healthchecks() -> None:
    assert checks.dependency_problems(MODEL) == []
    broken = compose_file.interpolate(RAW, HOST_ENV)
    broken["services"]["gateway"]["depends_on"]["postgress"] = {"condition": "service_started"}
    del broken["services"]["postgres"]["healthcheck"]
    assert checks.dependency_problems(broken) == [
        "migrate: waits for postgres to be healthy; it has no healthcheck",
        "gateway: waits for postgres to be healthy; it has no healthcheck",
        "gateway: depends on postgress, which is not a service",
    ]


def test_the_stateful_services_have_healthchecks() -> None:
    assert checks.missing_healthchecks(MODEL, STATEFUL) == []
    broken = compose_file.interpolate(RAW, HOST_ENV)
    del broken["services"]["redis"]["healthcheck"]
    broken["services"]["superlink"]["healthcheck"] = {"disable": True}
    assert checks.missing_healthchecks(broken, STATEFUL) == [
        "redis: no healthcheck",
        "superlink: no healthcheck",
    ]


def test_build_contexts_and_dockerfiles_exist() -> None:
    assert checks.build_problems(MODEL, ROOT) == []
    assert {IMAGES[name].dockerfile.name for name in IMAGES} == {p.name for p in DOCKERFILES}
    broken = compose_file.interpolate(RAW, HOST_ENV)
    broken["services"]["gateway"]["build"]["dockerfile"] = "docker/nope.Dockerfile"
    broken["services"]["superlink"]["build"]["context"] = "nowhere"
    assert checks.build_problems(broken, ROOT) == [
        "gateway: no Dockerfile at docker/nope.Dockerfile",
        "superlink: build context nowhere is not a folder",
    ]


@pytest.mark.parametrize("name", sorted(IMAGES))
def test_published_ports_are_exposed(name: str) -> None:
    assert checks.published_port_problems(name, SERVICES[name], IMAGES[name]) == []


# --- Dockerfiles and the build context --------------------------------------------------


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_every_copy_source_exists_and_reaches_the_context(dockerfile: Path) -> None:
    image = _image_of(dockerfile)
    assert checks.copy_problems(image, DOCKERIGNORE) == []
    assert any(i.keyword == "COPY" for i in image.instructions())


def test_copy_problems_are_named() -> None:
    image = _image(
        "FROM python:3.11-slim AS builder\n"
        "COPY no-such-file /x\n"
        "COPY Makefile /x\n"  # exists, but the allow-list keeps it out of the context
        "COPY ../outside /x\n"
        "FROM python:3.11-slim\n"
        "COPY --from=builder /opt/venv /opt/venv\n"  # a stage's path: not the context's
    )
    assert checks.copy_problems(image, DOCKERIGNORE) == [
        "broken.Dockerfile:2: no-such-file does not exist in the build context",
        "broken.Dockerfile:3: Makefile is excluded by .dockerignore",
        "broken.Dockerfile:4: ../outside is outside the build context",
    ]
    folder = _image("FROM python:3.11-slim\nCOPY gateway gateway\n")
    (problem,) = checks.copy_problems(folder, DOCKERIGNORE + "\ngateway/migrations\n")
    assert ".dockerignore drops gateway/migrations/" in problem


def test_the_context_keeps_state_and_secrets_out() -> None:
    patterns = ignore_patterns(DOCKERIGNORE)
    kept_out = [".venv/bin/python", "var/keys/k.json", ".env", ".git/config", "tests/conftest.py",
                "gateway/__pycache__/cli.cpython-311.pyc", "accord.egg-info/PKG-INFO"]  # fmt: skip
    kept_in = ["pyproject.toml", "gateway/cli.py", "gateway/migrations/env.py",
               "requirements/constraints.txt", "federation/flower_app/pyproject.toml"]  # fmt: skip
    assert [p for p in kept_out if not is_ignored(p, patterns)] == []
    assert [p for p in kept_in if is_ignored(p, patterns)] == []


def test_dockerignore_matching() -> None:
    patterns = ignore_patterns("*\n!keep\n**/*.py[co]\n/build/\nsub/?.txt\n!sub/a.txt\n")
    assert is_ignored("Makefile", patterns)
    assert not is_ignored("keep/deep/x.py", patterns)
    assert is_ignored("keep/deep/x.pyc", patterns)
    assert is_ignored("build/lib/x", patterns)
    assert is_ignored("sub/b.txt", patterns)
    assert not is_ignored("sub/a.txt", ignore_patterns("sub/?.txt\n!sub/a.txt\n"))


def test_dockerfile_parsing() -> None:
    (stage,) = parse(
        "# syntax=docker/dockerfile:1\nFROM python:3.11-slim AS app\n"
        "RUN one \\\n  # a comment inside\n  two\n"
        'ENV A=1 B="two words" \\\n    C=$PATH\nENV LEGACY some value\n'
        'CMD ["serve", "--port", "8000"]\nENTRYPOINT accord\n'
    )
    assert (stage.name, stage.base) == ("app", "python:3.11-slim")
    assert [i.keyword for i in stage.instructions] == ["RUN", "ENV", "ENV", "CMD", "ENTRYPOINT"]
    assert stage.instructions[0].value == "one two"
    image = Image(Path("x"), ROOT, [stage])
    assert image.env() == {"A": "1", "B": "two words", "C": "$PATH", "LEGACY": "some value"}
    assert image.cmd() == ["serve", "--port", "8000"]
    assert image.entrypoint() == ["/bin/sh", "-c", "accord"]


# --- what runs: entrypoints, commands, healthchecks ---------------------------------------


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_image_entrypoints_are_console_scripts(dockerfile: Path) -> None:
    image = _image_of(dockerfile)
    entrypoint = image.entrypoint()
    assert entrypoint and entrypoint[0] != "/bin/sh", "ENTRYPOINT in exec form (signals reach it)"
    assert checks.argv_problems([*entrypoint, *image.cmd()], checks.console_scripts(image)) == []


@pytest.mark.parametrize("name", sorted(IMAGES))
def test_service_commands_exist(name: str) -> None:
    image = IMAGES[name]
    argv = checks.service_argv(SERVICES[name], image)
    assert checks.argv_problems(argv, checks.console_scripts(image)) == []


def test_accord_subcommands_used_exist() -> None:
    used = {
        tuple(w for w in checks.service_argv(SERVICES[n], IMAGES[n])[:3] if not w.startswith("-"))
        for n in IMAGES
        if checks.service_argv(SERVICES[n], IMAGES[n])[:1] == ["accord"]
    }
    assert {("accord", "serve"), ("accord", "db", "upgrade"), ("accord", "demo", "up")} <= used


@pytest.mark.parametrize(
    ("dockerfile", "argv", "expected"),
    [
        pytest.param("gateway", ["accord", "serv"], "`accord serv`: no such command", id="sub"),
        pytest.param("gateway", ["accord", "db", "upgrad"], "no such command", id="nested"),
        pytest.param("gateway", ["accord", "serve", "--wrokers", "2"], "--wrokers", id="option"),
        pytest.param("gateway", ["accord", "serve", "--workers", "0"], "--workers", id="range"),
        pytest.param("gateway", ["accord", "db"], "needs a subcommand", id="group"),
        pytest.param("gateway", ["flower-superlink"], "not a console script", id="wrong-image"),
        pytest.param("federation", ["flower-supernodes"], "not a console script", id="typo"),
        pytest.param("federation", ["flower-superlink", "--fleet-api"], "--fleet-api", id="flag"),
        pytest.param("federation", ["flwr", "run", "--strem"], "--strem", id="flwr-option"),
    ],
)
def test_broken_commands_are_named(dockerfile: str, argv: list[str], expected: str) -> None:
    image = _image_of(DOCKER / f"{dockerfile}.Dockerfile")
    problems = checks.argv_problems(argv, checks.console_scripts(image))
    assert problems and expected in problems[0], problems


def _healthchecks() -> Iterator[tuple[str, Image, list[str]]]:
    for name, image in IMAGES.items():
        test = (SERVICES[name].get("healthcheck") or {}).get("test")
        if test:
            yield name, image, test[1:] if test[0] == "CMD" else ["/bin/sh", "-c", test[1]]
    for dockerfile in DOCKERFILES:
        image = _image_of(dockerfile)
        command = checks.image_healthcheck(image)
        if command:
            yield dockerfile.name, image, command


def test_healthchecks_run_what_the_image_has() -> None:
    found = {
        name: checks.healthcheck_problems(argv, image) for name, image, argv in _healthchecks()
    }
    assert "gateway.Dockerfile" in found and "gateway" in found and "superlink" in found
    assert {name: problems for name, problems in found.items() if problems} == {}
    gateway = _image_of(DOCKER / "gateway.Dockerfile")
    assert checks.healthcheck_problems(["python", "/opt/accord/gone.py"], gateway) == [
        "healthcheck script /opt/accord/gone.py is not copied into gateway.Dockerfile"
    ]


# --- settings -------------------------------------------------------------------------


def test_accord_variables_are_settings() -> None:
    sources = {"compose.yaml": COMPOSE, **{p.name: p for p in DOCKERFILES}}
    sources["compose.env.example"] = ENV_EXAMPLE
    for source, path in sources.items():
        assert checks.unknown_variables(path.read_text(encoding="utf-8"), source) == []
    assert checks.unknown_variables("ENV ACCORD_DATABSE_URL=x ACCORD_TEST_X=1", "f") == [
        "f: ACCORD_DATABSE_URL is not a setting of gateway.settings.Settings"
    ]


def test_production_requirements_come_from_the_operator() -> None:
    required = checks.required_in_production()
    assert {ENV_PREFIX + name.upper() for name in DEV_SECRETS} <= required
    production = [n for n in ("migrate", "gateway") if n in SERVICES]
    assert production == ["migrate", "gateway"]
    for name in production:
        raw = compose_file.environment(RAW["services"][name])
        assert checks.secret_source_problems(name, raw, required) == []
        env = {**IMAGES[name].env(), **compose_file.environment(SERVICES[name])}
        assert env[f"{ENV_PREFIX}ENV"] == "production"
        assert checks.settings_problems(env) == []

    raw = dict(compose_file.environment(RAW["services"]["gateway"]))
    raw[f"{ENV_PREFIX}SECRET_KEY"] = "${ACCORD_SECRET_KEY:-change-me-change-me-change-me-00}"
    raw[f"{ENV_PREFIX}OPERATOR_TOKEN"] = "a-literal-token-committed-to-the-repository"
    del raw[f"{ENV_PREFIX}HASH_KEY"]
    assert checks.secret_source_problems("gateway", raw, required) == [
        "gateway: ACCORD_HASH_KEY is not set",
        "gateway: ACCORD_OPERATOR_TOKEN must come from ${ACCORD_OPERATOR_TOKEN:?…}, "
        "not a literal or a default",
        "gateway: ACCORD_SECRET_KEY must come from ${ACCORD_SECRET_KEY:?…}, "
        "not a literal or a default",
    ]
    env = {**IMAGES["gateway"].env(), **compose_file.environment(SERVICES["gateway"])}
    del env[f"{ENV_PREFIX}HASH_KEY"]
    assert any("ACCORD_HASH_KEY" in p for p in checks.settings_problems(env))


def test_the_gateway_uses_the_postgres_service() -> None:
    postgres = compose_file.environment(SERVICES["postgres"])
    expected = (
        f"postgresql+psycopg://{postgres['POSTGRES_USER']}:{postgres['POSTGRES_PASSWORD']}"
        f"@postgres:5432/{postgres['POSTGRES_DB']}"
    )
    for name in ("migrate", "gateway"):
        assert compose_file.environment(SERVICES[name])[f"{ENV_PREFIX}DATABASE_URL"] == expected


def test_the_demo_runs_in_development_on_its_own_database() -> None:
    demos = [
        n for n in IMAGES if checks.service_argv(SERVICES[n], IMAGES[n])[:2] == ["accord", "demo"]
    ]
    assert demos == ["demo"]
    env = {**IMAGES["demo"].env(), **compose_file.environment(SERVICES["demo"])}
    assert env[f"{ENV_PREFIX}ENV"] == "development"  # `accord demo` refuses anything else
    assert env[f"{ENV_PREFIX}DATABASE_URL"].startswith("sqlite:")
    assert checks.settings_problems(env) == []
    assert SERVICES["demo"].get("profiles") == ["demo"]  # never started by a plain `up`


# --- the images: user, torch, constraints ------------------------------------------------


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_images_run_as_a_non_root_uid(dockerfile: Path) -> None:
    image = _image_of(dockerfile)
    assert checks.user_problems(image) == []
    assert image.stages[-1].base == "python:3.11-slim" and len(image.stages) >= 2


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("FROM a AS b\nUSER 10001\nFROM c\n", "runs as root (no USER)", id="none"),
        pytest.param("FROM c\nUSER 10001\nUSER root\n", "USER root is not a numeric", id="name"),
        pytest.param("FROM c\nUSER 0:0\n", "USER 0 is root", id="zero"),
    ],
)
def test_root_users_are_named(text: str, expected: str) -> None:
    (problem,) = checks.user_problems(_image(text))
    assert expected in problem


def test_torch_is_the_pinned_cpu_build() -> None:
    pin = checks.torch_pin()
    constraints = (ROOT / "requirements" / "constraints.txt").read_text(encoding="utf-8")
    assert f"torch=={pin}+cpu" in constraints.splitlines()
    federation = _image_of(DOCKER / "federation.Dockerfile")
    assert checks.torch_problems(federation, pin) == []
    gateway = _image_of(DOCKER / "gateway.Dockerfile")
    assert "torch" not in {r.name for r in checks.installed_requirements(gateway)}


@pytest.mark.parametrize(
    ("run", "expected"),
    [
        pytest.param("RUN pip install torch==2.12.0 --index-url {cpu}", "not pinned", id="version"),
        pytest.param("RUN pip install torch=={pin}", "does not come from", id="pypi"),
        pytest.param(
            "RUN pip install torch=={pin} --extra-index-url {cpu}", "--extra-index-url", id="extra"
        ),
        pytest.param(
            'RUN pip install ".[federation]"\nRUN pip install torch=={pin} --index-url {cpu}',
            "installs before torch",
            id="order",
        ),
    ],
)
def test_torch_problems_are_named(run: str, expected: str) -> None:
    text = "FROM python:3.11-slim\n" + run.format(pin=checks.torch_pin(), cpu=checks.CPU_INDEX)
    problems = checks.torch_problems(_image(text), checks.torch_pin())
    assert any(expected in p for p in problems), problems


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_pip_installs_are_constrained(dockerfile: Path) -> None:
    assert checks.constraints_problems(_image_of(dockerfile)) == []
    broken = _image("FROM python:3.11-slim\nRUN pip install .\n")
    assert checks.constraints_problems(broken) == [
        "broken.Dockerfile:2: pip install without -c requirements/constraints.txt"
    ]


# --- the federation -----------------------------------------------------------------------


def _federation(services: dict[str, Any]) -> list[str]:
    argvs = {n: checks.service_argv(services[n], IMAGES[n]) for n in IMAGES}
    copied = {n: IMAGES[n].copied() for n in IMAGES}
    with (DOCKER / "flwr-config.toml").open("rb") as handle:
        flwr_config = tomllib.load(handle)
    with (ROOT / "federation" / "flower_app" / "pyproject.toml").open("rb") as handle:
        app_config = tomllib.load(handle)["tool"]["flwr"]["app"]["config"]
    return checks.federation_problems(argvs, copied, flwr_config, app_config)


def test_supernodes_cover_the_partitions_the_run_expects() -> None:
    assert _federation(SERVICES) == []
    services = compose_file.interpolate(RAW, HOST_ENV)["services"]
    services["supernode-1"]["command"][4] = "partition-id=0 num-partitions=2"
    services["supernode-0"]["command"][2] = "superlink:9092"
    services["train"]["command"][4] = "platforms=3 epochs=2"
    assert _federation(services) == [
        "supernode-0: --superlink is not superlink:9093",
        "partition ids ['0', '0'] are not 0..1",
        "train: epochs is not in the app's config",
        "train: platforms is not 2, the SuperNodes there are",
        "train: min-nodes is not 2, the SuperNodes there are",
    ]


# --- docker/healthcheck.py ----------------------------------------------------------------


def _healthcheck_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("healthcheck", DOCKER / "healthcheck.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class _Answers(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/healthz" else 503)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        return


def test_the_healthcheck_script_answers_by_status() -> None:
    healthcheck = _healthcheck_module()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Answers)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        port = str(server.server_address[1])
        assert healthcheck.check_http("/healthz", port) is None
        assert "answered 503" in healthcheck.check_http("/readyz", port)
    finally:
        server.shutdown()
        server.server_close()
    assert "does not answer" in healthcheck.check_http("/healthz", port)
    assert healthcheck.main(["tcp", "x"]) == 2
