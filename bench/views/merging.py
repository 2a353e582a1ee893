"""One category's values for a chunk of persons, merged as the gateway merges them:
the rows of ``merged_attribute`` (what the sandbox aggregates) and of ``view_value``
(what a view serves), computed with numpy from the values drawn.

The rules are :mod:`gateway.views.merge`'s (``rule_of``, ``merge``, ``rows_of``) and
the entries :mod:`gateway.views.document`'s (``fragment``, compact ``dumps``), applied
to whole columns; ``tests/test_bench_views.py`` checks both against the gateway's own
functions, row for row and byte for byte.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from bench.views.copydata import Clock, Ints, Texts
from bench.views.draws import Drawn, Floats, Leaf
from consent.taxonomy import MergeRule, ValueType

Index = npt.NDArray[np.signedinteger[Any]]


@dataclass(frozen=True)
class Merged:
    """Merged rows, compactly: by (leaf, person, item), as ``merged_attribute``'s
    primary key orders them (item -1 is "", text -1 and num NaN are NULL)."""

    leaf: Index
    person: Index
    item: Index  # tag index, or -1
    num: Floats
    text: Index  # index into the leaf's labels (enum values, tags, false/true), or -1

    @staticmethod
    def join(parts: list[Merged]) -> Merged:
        """Chunks (by person) joined and ordered by leaf, keeping each leaf's order."""
        leaf = np.concatenate([p.leaf for p in parts]).astype(np.int16)
        order = np.argsort(leaf, kind="stable")
        return Merged(  # narrow types: a million persons have 22 million merged rows
            leaf[order],
            np.concatenate([p.person for p in parts]).astype(np.int32)[order],
            np.concatenate([p.item for p in parts]).astype(np.int16)[order],
            np.concatenate([p.num for p in parts])[order],
            np.concatenate([p.text for p in parts]).astype(np.int32)[order],
        )


class Block:
    """The rows of one category in a chunk, by person and then platform id (the order
    ``merge`` reads a person's observations in)."""

    def __init__(self, leaf: Leaf, person: Ints, rank: Ints, drawn: Drawn) -> None:
        self.leaf, self.person, self.rank, self.drawn = leaf, person, rank, drawn
        self.size = len(person)
        starts = np.r_[True, person[1:] != person[:-1]]
        self.starts = np.flatnonzero(starts)
        self.group = np.cumsum(starts) - 1
        self.picked: Ints | None = None  # per person: the row whose value is the merged one
        self.total: Ints | Floats | None = None  # per person: the merged sum or tag mask
        category = leaf.category
        match leaf.rule:
            case MergeRule.latest:
                self.picked = self._picked(drawn.observed)
            case MergeRule.max:  # by numeric(value) or 0.0
                self.picked = self._picked(np.nan_to_num(drawn.num))
            case MergeRule.sum:
                total = np.add.reduceat(drawn.raw, self.starts)
                if category.maximum is not None:
                    total = np.minimum(total, category.maximum)
                if category.type is ValueType.integer:
                    total = total.astype(np.int64)
                self.total = total
            case MergeRule.union:
                self.total = np.bitwise_or.reduceat(drawn.raw.astype(np.int64), self.starts)

    def _picked(self, key: Ints | Floats) -> Ints:
        """Per person, the row with the greatest (key, platform id)."""
        order = np.lexsort((self.rank, key, self.group))
        ends = np.r_[self.starts[1:], self.size]
        picked: Ints = order[ends - 1]
        return picked

    def merged(self) -> Merged:
        """The merged values as ``rows_of`` keeps them in ``merged_attribute``."""
        category = self.leaf.category
        people = self.person[self.starts]
        count = len(people)
        value = self.drawn.raw[self.picked] if self.picked is not None else self.total
        assert value is not None
        leaf = np.full(count, self.leaf.index, dtype=np.int64)
        none, nan = np.full(count, -1, dtype=np.int64), np.full(count, np.nan)
        match category.type:
            case ValueType.tag_set:
                bits = np.arange(len(category.values))
                has = (np.asarray(value, dtype=np.int64)[:, None] >> bits) & 1 == 1
                who, tag = np.nonzero(has)
                # within a person, by the tag's text (the key's order), not the standard's
                order = np.lexsort((self.leaf.tag_rank[tag], who))
                who, tag = who[order], tag[order]
                return Merged(leaf[who], people[who], tag, nan[who], tag)
            case ValueType.enum:
                return Merged(leaf, people, none, nan, np.asarray(value, dtype=np.int64))
            case ValueType.boolean:
                flags = np.asarray(value, dtype=np.int64)
                return Merged(leaf, people, none, flags.astype(np.float64), flags)
            case _:  # numbers: integers, floats and timestamps (epoch seconds)
                return Merged(leaf, people, none, np.asarray(value, dtype=np.float64), none)

    def entries(self, client_ids: Texts, clock: Clock) -> list[str]:
        """Per person, the view's JSON entry (``document.fragment``, compact)."""
        category, compact = self.leaf.category, self.drawn.compact
        values: list[str]
        if self.picked is not None:
            values = compact[self.picked].tolist()
        elif category.type is ValueType.tag_set:
            assert self.total is not None
            values = [self.leaf.tags_json(m)[1] for m in self.total.tolist()]
        else:
            assert self.total is not None
            values = list(map(json.dumps, self.total.tolist()))
        observed = self.drawn.observed
        latest = clock.iso(np.maximum.reduceat(observed, self.starts)).tolist()
        rule = self.leaf.rule.value
        heads = [
            f'{{"value":{v},"observed_at":"{t}","merge":"{rule}"'
            for v, t in zip(values, latest, strict=True)
        ]
        if category.sensitive is not None:  # no provenance for a sensitive category
            return [head + "}" for head in heads]
        sources = [
            f'{{"platform":"{c}","value":{v},"observed_at":"{t}"}}'
            for c, v, t in zip(
                client_ids.tolist(), compact.tolist(), clock.iso(observed).tolist(), strict=True
            )
        ]
        ends = [*self.starts.tolist()[1:], self.size]
        return [
            f'{head},"sources":[{",".join(sources[a:b])}]}}'
            for head, a, b in zip(heads, self.starts.tolist(), ends, strict=True)
        ]
