"""A view's JSON, one category at a time: written when values change, served as text.

Each category of a person's view is kept as the exact JSON the view holds for it
(``view_value.doc``), so serving a view (or 1,000) joins stored text and never parses,
merges or re-encodes a value at request time.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Mapping
from typing import Any

from consent.taxonomy import Category
from gateway.views.merge import Merged, rule_of


def fragment(category: Category, merged: Merged, names: Mapping[str, str]) -> dict[str, Any]:
    """The view's entry for one category: value, rule, time and (unless the category is
    sensitive: provenance would say more of it) each platform's own value by client id."""
    out: dict[str, Any] = {
        "value": merged.value,
        "observed_at": merged.observed_at.isoformat(),
        "merge": rule_of(category).value,
    }
    if category.sensitive is None:
        out["sources"] = [
            {
                "platform": names.get(o.platform_id, ""),
                "value": o.value,
                "observed_at": o.observed_at.isoformat(),
            }
            for o in merged.sources
        ]
    return out


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def derived(value: str) -> str:
    """The entry of a category the gateway computes per recipient (the pseudonymous id)."""
    return f'{{"value":{dumps(value)},"merge":"derived"}}'  # as dumps() of the dict, faster


def members(entries: Iterable[tuple[str, str]]) -> str:
    """``"category":entry,...`` (an object's members, without braces) from stored entries."""
    return ",".join(f"{_key(key)}:{doc}" for key, doc in entries)


@functools.lru_cache(maxsize=256)
def keys(categories: tuple[str, ...]) -> str:
    """A list of category keys as JSON (views of a batch share a handful of lists)."""
    return dumps(list(categories))


@functools.lru_cache(maxsize=4096)
def _key(category: str) -> str:
    """A category key as JSON (a few hundred keys, quoted once each, not per view)."""
    return dumps(category)
