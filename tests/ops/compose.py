"""compose.yaml read as Compose reads it: YAML (anchors, merge keys), interpolation, schema.

Interpolation follows the Compose Specification ("Interpolation"): ``$$`` is a dollar,
``$VAR`` and ``${VAR}`` substitute, ``${VAR:-default}``/``${VAR-default}`` fall back,
``${VAR:?message}``/``${VAR?message}`` refuse to start, ``${VAR:+alt}``/``${VAR+alt}``
replace. With a colon, an empty value counts as unset. Nested expressions are not needed
here and not supported.

The schema is the Compose Specification's own JSON Schema, vendored in compose-spec.json
(source and version in this folder's README.md).
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator

SCHEMA = Path(__file__).with_name("compose-spec.json")

_EXPRESSION = re.compile(
    r"\$(?:(?P<dollar>\$)"
    r"|\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}"
    r"|(?P<named>[A-Za-z_][A-Za-z0-9_]*))"
)


@dataclass(frozen=True)
class Reference:
    name: str
    op: str  # "" (plain), "-", ":-", "?", ":?", "+", ":+"
    arg: str

    @property
    def required(self) -> bool:
        return self.op in {"?", ":?"}


def references(value: str) -> list[Reference]:
    found = []
    for match in _EXPRESSION.finditer(value):
        if match.group("dollar"):
            continue
        name = match.group("braced") or match.group("named")
        found.append(Reference(name, match.group("op") or "", match.group("arg") or ""))
    return found


class InterpolationError(Exception):
    """Compose would refuse the file: a required variable is unset (or empty)."""


def interpolate_text(value: str, env: Mapping[str, str]) -> str:
    def substitute(match: re.Match[str]) -> str:
        if match.group("dollar"):
            return "$"
        name = match.group("braced") or match.group("named")
        op, arg = match.group("op") or "", match.group("arg") or ""
        present = name in env and (not op.startswith(":") or env[name] != "")
        if op.endswith("-"):
            return env[name] if present else arg
        if op.endswith("?"):
            if not present:
                raise InterpolationError(f"{name}: {arg or 'required'}")
            return env[name]
        if op.endswith("+"):
            return arg if present else ""
        return env.get(name, "")

    return _EXPRESSION.sub(substitute, value)


def interpolate(node: Any, env: Mapping[str, str]) -> Any:
    """Every string value of a loaded compose file interpolated (keys are not)."""
    if isinstance(node, str):
        return interpolate_text(node, env)
    if isinstance(node, dict):
        return {key: interpolate(value, env) for key, value in node.items()}
    if isinstance(node, list):
        return [interpolate(item, env) for item in node]
    return node


def strings(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from strings(item)


def required_variables(model: Mapping[str, Any]) -> set[str]:
    """Variables the file refuses to start without (``${VAR:?…}``)."""
    return {ref.name for text in strings(model) for ref in references(text) if ref.required}


def load(path: Path) -> dict[str, Any]:
    loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(loaded, dict):
        raise ValueError(f"{path}: not a mapping")
    return loaded


@cache
def _validator() -> Draft202012Validator:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def schema_problems(model: Mapping[str, Any]) -> list[str]:
    problems = []
    for error in sorted(_validator().iter_errors(model), key=lambda e: list(e.absolute_path)):
        where = "/".join(str(part) for part in error.absolute_path) or "(top)"
        problems.append(f"{where}: {error.message}")
    return problems


# --- one service --------------------------------------------------------------------


def words(value: Any) -> list[str] | None:
    """entrypoint/command as argv: a list as is, a string split as a shell would."""
    if value is None:
        return None
    if isinstance(value, str):
        return shlex.split(value)
    return [str(item) for item in value]


def environment(service: Mapping[str, Any]) -> dict[str, str]:
    """A service's environment in either form (mapping, or list of KEY=value)."""
    raw = service.get("environment") or {}
    if isinstance(raw, list):
        return dict(str(item).partition("=")[::2] for item in raw)
    return {str(key): "" if value is None else str(value) for key, value in raw.items()}


def depends_on(service: Mapping[str, Any]) -> dict[str, str]:
    """Names a service depends on, with the condition (short form: service_started)."""
    raw = service.get("depends_on") or {}
    if isinstance(raw, list):
        return dict.fromkeys(raw, "service_started")
    return {name: (spec or {}).get("condition", "service_started") for name, spec in raw.items()}
