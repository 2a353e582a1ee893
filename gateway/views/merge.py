"""How one person's values of a category from several platforms combine (the standard's
``merge`` rule per category), and what a value reads as a number.

Pure: no database, no HTTP. The unified view merges with it at read time (keeping each
platform's value as provenance), and ingest keeps ``merged_attribute`` in step with it
for the sandbox, so the two can never disagree.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from consent.taxonomy import Category, MergeRule, ValueType

EPOCH_UNIT = "s"  # timestamps read as POSIX seconds


@dataclass(frozen=True)
class Observation:
    """One platform's value of one category for a person."""

    platform_id: str
    value: Any
    observed_at: datetime


@dataclass(frozen=True)
class Merged:
    value: Any
    observed_at: datetime  # the latest observation that went into it
    sources: tuple[Observation, ...]  # every platform's own value, by platform id


def rule_of(category: Category) -> MergeRule:
    if category.merge is not None:
        return category.merge
    match category.type:
        case ValueType.tag_set:
            return MergeRule.union
        case ValueType.timestamp:
            return MergeRule.max
        case ValueType.integer if category.window_days:
            return MergeRule.sum
        case _:
            return MergeRule.latest


def merge(category: Category, observations: Sequence[Observation]) -> Merged:
    """The merged value of ``observations`` (at least one) under the category's rule."""
    if not observations:
        raise ValueError("nothing to merge")
    ordered = tuple(sorted(observations, key=lambda o: o.platform_id))
    latest = max(ordered, key=lambda o: (o.observed_at, o.platform_id))
    value: Any
    match rule_of(category):
        case MergeRule.sum:
            total = sum(o.value for o in ordered)
            value = int(total) if category.type is ValueType.integer else float(total)
            if category.maximum is not None:
                # A count window's maximum bounds one platform's count; the sum of several
                # may pass it, and the merged value stays within the standard's range.
                value = min(
                    value, int(category.maximum) if isinstance(value, int) else category.maximum
                )
        case MergeRule.max:
            value = max(
                ordered, key=lambda o: (numeric(category, o.value) or 0.0, o.platform_id)
            ).value
        case MergeRule.union:
            order = {tag: n for n, tag in enumerate(category.values)}
            tags = {tag for o in ordered for tag in o.value}
            value = sorted(tags, key=lambda t: order.get(t, len(order)))
        case MergeRule.latest:
            value = latest.value
    return Merged(value, latest.observed_at, ordered)


def numeric(category: Category, value: Any) -> float | None:
    """The value as a number where it has one (for ``max``, sums and aggregates)."""
    match category.type:
        case ValueType.integer | ValueType.float:
            return float(value)
        case ValueType.boolean:
            return 1.0 if value else 0.0
        case ValueType.timestamp:
            return parse_time(str(value)).timestamp()
        case _:
            return None


def parse_time(text: str) -> datetime:
    """An RFC 3339 date-time (the JSON Schema checked it), as an aware datetime."""
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError("a date-time needs its offset")
    return parsed


@dataclass(frozen=True)
class MergedRow:
    """One ``merged_attribute`` row: the sandbox's view of a merged value."""

    item: str  # "" for a scalar; the tag, for each tag of a tag set
    num: float | None
    text: str | None


def rows_of(category: Category, merged: Merged) -> list[MergedRow]:
    """What the sandbox keeps of a merged value. Strings (identifiers, display names)
    are never aggregated and keep no row."""
    match category.type:
        case ValueType.tag_set:
            return [MergedRow(tag, None, tag) for tag in merged.value]
        case ValueType.string | None:
            return []
        case ValueType.enum:
            return [MergedRow("", None, str(merged.value))]
        case ValueType.boolean:
            return [
                MergedRow("", numeric(category, merged.value), "true" if merged.value else "false")
            ]
        case _:
            return [MergedRow("", numeric(category, merged.value), None)]


def merge_all(
    categories: Mapping[str, Category], observations: Iterable[tuple[str, Observation]]
) -> dict[str, Merged]:
    """category -> merged value, for one person's (category, observation) pairs."""
    grouped: dict[str, list[Observation]] = {}
    for key, observation in observations:
        grouped.setdefault(key, []).append(observation)
    return {
        key: merge(categories[key], found) for key, found in grouped.items() if key in categories
    }
