"""The alliance data standard, as built and validated by :mod:`consent.taxonomy.loader`.

Categories form a tree by their dotted keys (fideslang style): only leaves carry a
value type; a key that is not a leaf stands for every leaf under it. Purposes
declare their necessity, the only categories they may ever use (PIPL Art. 6).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property


class ValueType(StrEnum):
    enum = "enum"
    integer = "integer"
    float = "float"
    boolean = "boolean"
    tag_set = "tag_set"
    timestamp = "timestamp"
    string = "string"  # bounded identifiers and display names only, never free text


class Sensitivity(StrEnum):
    """The kinds of sensitive personal information of PIPL Art. 28."""

    biometric = "biometric"
    religious_belief = "religious_belief"
    specific_identity = "specific_identity"
    health = "health"
    financial_account = "financial_account"
    precise_location = "precise_location"
    minor_under_14 = "minor_under_14"


class MergeRule(StrEnum):
    """How one person's values from several platforms combine in a unified view."""

    sum = "sum"  # counts add
    max = "max"  # recency: the latest timestamp wins
    union = "union"  # tag sets unite
    latest = "latest"  # scalars: the most recently observed value wins


class RecipientKind(StrEnum):
    platform = "platform"  # a member platform: the person's own service provider
    brand = "brand"  # a third party under PIPL Art. 23


class LawfulBasis(StrEnum):
    """Lawful bases shared by PIPL Art. 13 and GDPR Art. 6 (DPV names, snake case)."""

    consent = "consent"
    contract = "contract"
    legal_obligation = "legal_obligation"
    vital_interest = "vital_interest"
    public_interest = "public_interest"


@dataclass(frozen=True)
class Text:
    en: str
    zh: str


@dataclass(frozen=True)
class Category:
    key: str
    title: Text
    description: Text
    version_added: str
    type: ValueType | None = None
    unit: str | None = None
    minimum: float | None = None
    maximum: float | None = None
    values: tuple[str, ...] = ()
    max_length: int | None = None
    pattern: str | None = None
    window_days: int | None = None
    merge: MergeRule | None = None
    sensitive: Sensitivity | None = None
    deprecated: bool = False
    replaced_by: str | None = None

    @property
    def parent(self) -> str | None:
        head, dot, _ = self.key.rpartition(".")
        return head if dot else None

    @property
    def is_leaf(self) -> bool:
        return self.type is not None


@dataclass(frozen=True)
class InterestTag:
    key: str  # "<vertical>.<tag>"
    title: Text
    description: Text
    version_added: str
    deprecated: bool = False
    replaced_by: str | None = None

    @property
    def vertical(self) -> str:
        return self.key.split(".", 1)[0]


@dataclass(frozen=True)
class Vertical:
    key: str
    title: Text
    description: Text
    version_added: str
    tags: tuple[InterestTag, ...]


@dataclass(frozen=True)
class Purpose:
    key: str
    title: Text
    description: Text
    lawful_basis: LawfulBasis
    declared_necessity: tuple[str, ...]  # as written: leaves or parents
    necessity: frozenset[str]  # expanded: the active leaf categories
    recipients: frozenset[RecipientKind]
    separate_consent: bool
    validity_days: int
    retention_days: int
    version_added: str

    @property
    def shares_with_third_party(self) -> bool:
        return RecipientKind.brand in self.recipients


@dataclass(frozen=True)
class DataStandard:
    name: str
    version: str
    languages: tuple[str, ...]
    categories: Mapping[str, Category]
    verticals: tuple[Vertical, ...]
    purposes: Mapping[str, Purpose]
    digest: str = field(default="")

    @property
    def tags(self) -> dict[str, InterestTag]:
        return {tag.key: tag for vertical in self.verticals for tag in vertical.tags}

    def leaves(self) -> list[Category]:
        return [c for c in self.categories.values() if c.is_leaf]

    def leaves_under(self, key: str, *, include_deprecated: bool = False) -> frozenset[str]:
        if include_deprecated:
            return leaves_under(self.categories, key, include_deprecated=True)
        return self._active_leaves.get(key, frozenset())

    @cached_property
    def _active_leaves(self) -> dict[str, frozenset[str]]:
        # Built once: decisions expand categories on every call (cached_property writes
        # the instance __dict__ directly, so the frozen dataclass allows it).
        index: dict[str, set[str]] = {}
        for category in self.categories.values():
            if not category.is_leaf or category.deprecated:
                continue
            key = category.key
            while True:
                index.setdefault(key, set()).add(category.key)
                head, dot, _ = key.rpartition(".")
                if not dot:
                    break
                key = head
        return {key: frozenset(leaves) for key, leaves in index.items()}

    def is_sensitive(self, key: str) -> bool:
        category = self.categories.get(key)
        return category is not None and category.sensitive is not None


def leaves_under(
    categories: Mapping[str, Category], key: str, *, include_deprecated: bool = False
) -> frozenset[str]:
    """The leaf categories a key stands for (itself, if it is a leaf)."""
    prefix = key + "."
    return frozenset(
        c.key
        for c in categories.values()
        if c.is_leaf
        and (c.key == key or c.key.startswith(prefix))
        and (include_deprecated or not c.deprecated)
    )
