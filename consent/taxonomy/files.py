"""Reading the standard's YAML files: duplicate keys refused, shapes checked strictly.

PyYAML silently keeps the last of two equal mapping keys; a data standard must not,
so the loader here refuses them with the file and line.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from yaml.nodes import MappingNode, Node

from consent.taxonomy.model import LawfulBasis, MergeRule, RecipientKind, Sensitivity, ValueType

# Scalars are strict (YAML's 1.0 must not become "1.0"); enums parse from their values.
ValueTypeField = Annotated[ValueType, Field(strict=False)]
SensitivityField = Annotated[Sensitivity, Field(strict=False)]
MergeField = Annotated[MergeRule, Field(strict=False)]
BasisField = Annotated[LawfulBasis, Field(strict=False)]
RecipientField = Annotated[RecipientKind, Field(strict=False)]

DAYS = re.compile(r"^P([1-9][0-9]{0,4})D$")  # ISO 8601 durations in whole days only


# libyaml's parser when present (5x faster); the constructor stays SafeConstructor's.
_SafeBase: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _UniqueKeyLoader(_SafeBase):  # type: ignore[misc]
    def construct_mapping(self, node: Node, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, MappingNode):
            seen: set[Any] = set()
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=deep)
                if key in seen:
                    line = key_node.start_mark.line + 1
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key '{key}' (line {line})", key_node.start_mark
                    )
                seen.add(key)
        mapping: dict[Any, Any] = super().construct_mapping(node, deep=deep)
        return mapping


def read_yaml(path: Path) -> Any:
    with path.open(encoding="utf-8") as stream:
        return yaml.load(stream, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class RawText(_Strict):
    en: str = Field(min_length=1)
    zh: str = Field(min_length=1)


class RawStandard(_Strict):
    name: str = Field(min_length=1)
    version: str = Field(pattern=r"^\d+\.\d+\.\d+$")
    languages: list[str]


class _RawValueShape(_Strict):
    """What a leaf category (or a family of them) says about its values."""

    title: RawText
    description: RawText
    version_added: str = Field(pattern=r"^\d+\.\d+\.\d+$")
    type: ValueTypeField | None = None
    unit: str | None = None
    minimum: float | None = None
    maximum: float | None = None
    values: list[str] | None = None
    max_length: int | None = Field(default=None, ge=1, le=4096)
    pattern: str | None = None
    window: str | None = Field(default=None, pattern=DAYS.pattern)
    merge: MergeField | None = None
    sensitive: SensitivityField | None = None


class RawCategory(_RawValueShape):
    key: str
    deprecated: bool = False
    replaced_by: str | None = None


class RawFamily(_RawValueShape):
    """One leaf category per interest vertical, under ``parent`` (e.g. user.interest)."""

    parent: str
    values_from_vertical: bool = False


class RawTag(_Strict):
    key: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    title: RawText
    description: RawText
    version_added: str = Field(pattern=r"^\d+\.\d+\.\d+$")
    deprecated: bool = False
    replaced_by: str | None = None


class RawVertical(_Strict):
    key: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    title: RawText
    description: RawText
    version_added: str = Field(pattern=r"^\d+\.\d+\.\d+$")
    tags: list[RawTag] = Field(min_length=1)


class RawPurpose(_Strict):
    key: str
    title: RawText
    description: RawText
    lawful_basis: BasisField
    necessity: list[str] = Field(min_length=1)
    recipients: list[RecipientField] = Field(min_length=1)
    separate_consent: bool
    validity: str = Field(pattern=DAYS.pattern)
    retention: str = Field(pattern=DAYS.pattern)
    version_added: str = Field(pattern=r"^\d+\.\d+\.\d+$")


M = TypeVar("M", bound=BaseModel)


def parse_entries(
    model: type[M], entries: Any, *, what: str, source: str, problems: list[str]
) -> list[M]:
    """Validate each entry on its own, so one bad entry names its key and the rest load."""
    if not isinstance(entries, list):
        problems.append(f"{source}: '{what}' must be a list")
        return []
    parsed: list[M] = []
    for index, entry in enumerate(entries):
        name = (entry.get("key") or entry.get("parent")) if isinstance(entry, dict) else None
        label = f"{what} '{name}'" if name else f"{what} #{index + 1}"
        try:
            parsed.append(model.model_validate(entry))
        except ValidationError as exc:
            for error in exc.errors(include_url=False, include_input=False):
                field = ".".join(str(part) for part in error["loc"]) or "entry"
                problems.append(f"{source}: {label}: {field}: {error['msg']}")
    return parsed


def days(duration: str) -> int:
    match = DAYS.match(duration)
    if match is None:  # pragma: no cover - the models' patterns already refuse these
        raise ValueError(duration)
    return int(match.group(1))
