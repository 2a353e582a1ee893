"""A sandbox query: what a brand may ask, checked against the data standard.

Counts, sums or means over the persons who consent to ``analytics.aggregate`` for the
brand, grouped by up to two standard dimensions and filtered by standard dimensions.
A dimension is an enum category (city tier, generation, ...), an interest vertical (its
tags: a person falls in up to ``max_tags`` tag groups), or the derived interaction depth
(none / shallow / deep, from the 30-day interaction counts). The group domain comes
from the standard, never from the data, so which groups exist reveals nothing.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property
from typing import Any

from consent.taxonomy import DataStandard, ValueType
from gateway.errors import InvalidRequest

PURPOSE = "analytics.aggregate"
DEPTH = "interaction_depth"
DEPTH_VALUES = ("none", "shallow", "deep")
MAX_GROUP_BY = 2
MAX_GROUPS = 1000
MAX_EPSILON = 10.0
DEFAULT_MAX_TAGS = 4


class Kind(StrEnum):
    enum = "enum"  # one value per person
    tags = "tags"  # a tag set: one group per tag, at most max_tags per person
    depth = "depth"  # derived from interaction counts


class Measure(StrEnum):
    COUNT = "count"
    SUM = "sum"
    MEAN = "mean"


@dataclass(frozen=True)
class Dimension:
    key: str
    kind: Kind
    values: tuple[str, ...]
    categories: frozenset[str]  # what a person must consent to, to be counted by it


@dataclass(frozen=True)
class Query:
    measure: Measure
    category: str | None  # the measured category (sum, mean)
    lower: float
    upper: float
    group_by: tuple[Dimension, ...]
    where: tuple[tuple[Dimension, tuple[str, ...]], ...]
    epsilon: float
    max_tags: int

    @property
    def groups_per_person(self) -> int:
        """How many groups one person can fall in (the L0 bound of the release)."""
        return self.max_tags if any(d.kind is Kind.tags for d in self.group_by) else 1

    @property
    def categories(self) -> frozenset[str]:
        needed: set[str] = set()
        for dimension in (*self.group_by, *(d for d, _ in self.where)):
            needed |= dimension.categories
        if self.category is not None:
            needed.add(self.category)
        return frozenset(needed)

    def domain(self) -> list[tuple[str, ...]]:
        """Every group the answer has, from the standard (filters narrow it)."""
        narrowed = dict(self.where)
        axes = [narrowed.get(d, d.values) for d in self.group_by]
        groups: list[tuple[str, ...]] = [()]
        for axis in axes:
            groups = [(*g, v) for g in groups for v in axis]
        return groups

    @cached_property
    def canonical(self) -> dict[str, Any]:
        return {
            "measure": self.measure.value,
            "category": self.category,
            "bounds": [self.lower, self.upper] if self.category else None,
            "group_by": [d.key for d in self.group_by],
            "where": {d.key: sorted(v) for d, v in sorted(self.where, key=lambda w: w[0].key)},
            "epsilon": self.epsilon,
            "max_tags": self.max_tags if self.groups_per_person > 1 else None,
        }

    @cached_property
    def digest(self) -> str:
        text = json.dumps(self.canonical, sort_keys=True, separators=(",", ":"))
        return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def dimensions(standard: DataStandard) -> dict[str, Dimension]:
    """The dimensions a brand may group and filter by: the purpose's enum and tag-set
    categories, and the interaction depth."""
    necessity = standard.purposes[PURPOSE].necessity
    found: dict[str, Dimension] = {}
    for key in sorted(necessity):
        category = standard.categories[key]
        if category.type is ValueType.enum:
            found[key] = Dimension(key, Kind.enum, category.values, frozenset({key}))
        elif category.type is ValueType.tag_set:
            found[key] = Dimension(key, Kind.tags, category.values, frozenset({key}))
    counts = frozenset(
        k for k in necessity if k.startswith("user.interaction.") and k.endswith(".count_30d")
    )
    if counts:
        found[DEPTH] = Dimension(DEPTH, Kind.depth, DEPTH_VALUES, counts)
    return found


def measurable(standard: DataStandard) -> dict[str, tuple[float | None, float | None]]:
    """Numeric categories a brand may sum or average, with the standard's bounds."""
    necessity = standard.purposes[PURPOSE].necessity
    return {
        key: (standard.categories[key].minimum, standard.categories[key].maximum)
        for key in sorted(necessity)
        if standard.categories[key].type in (ValueType.integer, ValueType.float)
    }


def parse(body: Any, standard: DataStandard) -> Query:
    """The query in ``body`` (a JSON object), or InvalidRequest naming what is wrong."""
    if not isinstance(body, dict):
        raise InvalidRequest("a query is a JSON object")
    allowed = {"measure", "category", "bounds", "group_by", "where", "epsilon", "max_tags", "fresh"}
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise InvalidRequest(f"unknown members: {', '.join(unknown[:5])}")
    try:
        measure = Measure(body.get("measure", "count"))
    except ValueError:
        raise InvalidRequest("measure is one of count, sum, mean") from None
    known = dimensions(standard)
    group_by = tuple(_dimension(known, key) for key in _list(body.get("group_by", []), "group_by"))
    if len(group_by) > MAX_GROUP_BY or len(set(group_by)) != len(group_by):
        raise InvalidRequest(f"group by up to {MAX_GROUP_BY} distinct dimensions")
    where = _where(known, body.get("where", {}))
    category, lower, upper = _measured(standard, measure, body)
    epsilon = body.get("epsilon")
    if isinstance(epsilon, bool) or not isinstance(epsilon, int | float):
        raise InvalidRequest("epsilon is a number")
    if not (math.isfinite(epsilon) and 0 < epsilon <= MAX_EPSILON):
        raise InvalidRequest(f"epsilon is in (0, {MAX_EPSILON}]")
    max_tags = body.get("max_tags", DEFAULT_MAX_TAGS)
    if isinstance(max_tags, bool) or not isinstance(max_tags, int) or not 1 <= max_tags <= 20:
        raise InvalidRequest("max_tags is an integer from 1 to 20")
    query = Query(measure, category, lower, upper, group_by, where, float(epsilon), max_tags)
    if len(query.domain()) > MAX_GROUPS:
        raise InvalidRequest(f"the grouping has more than {MAX_GROUPS} groups")
    return query


def _list(value: Any, name: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidRequest(f"{name} is a list of strings")
    return value


def _dimension(known: dict[str, Dimension], key: str) -> Dimension:
    found = known.get(key)
    if found is None:
        raise InvalidRequest(f"'{key[:120]}' is not a sandbox dimension")
    return found


def _where(
    known: dict[str, Dimension], value: Any
) -> tuple[tuple[Dimension, tuple[str, ...]], ...]:
    if not isinstance(value, dict) or len(value) > 4:
        raise InvalidRequest("where maps up to 4 dimensions to lists of values")
    filters: list[tuple[Dimension, tuple[str, ...]]] = []
    for key, values in value.items():
        dimension = _dimension(known, key)
        chosen = _list(values, f"where.{key[:120]}")
        if not chosen or any(v not in dimension.values for v in chosen):
            raise InvalidRequest(f"where.{key[:120]} lists values of the dimension")
        filters.append((dimension, tuple(sorted(set(chosen)))))
    return tuple(filters)


def _measured(
    standard: DataStandard, measure: Measure, body: dict[str, Any]
) -> tuple[str | None, float, float]:
    if measure is Measure.COUNT:
        if body.get("category") is not None or body.get("bounds") is not None:
            raise InvalidRequest("a count takes no category or bounds")
        return None, 0.0, 0.0
    numeric = measurable(standard)
    category = body.get("category")
    if not isinstance(category, str) or category not in numeric:
        raise InvalidRequest(f"a {measure.value} names a numeric category of '{PURPOSE}'")
    low, high = numeric[category]
    bounds = body.get("bounds")
    if bounds is not None:
        if (
            not isinstance(bounds, list)
            or len(bounds) != 2
            or not all(isinstance(b, int | float) and not isinstance(b, bool) for b in bounds)
            or not all(math.isfinite(b) for b in bounds)
            or bounds[0] >= bounds[1]
        ):
            raise InvalidRequest("bounds is [lower, upper], two finite numbers, lower < upper")
        low, high = float(bounds[0]), float(bounds[1])
    if low is None or high is None:
        # Bounds must not come from the data (that would leak it): the brand states them.
        raise InvalidRequest(f"'{category}' has no bound in the standard: give bounds")
    return category, float(low), float(high)
