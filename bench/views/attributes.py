"""The attribute values platforms pushed for the bench population, their merged rows
and their view entries, as binary COPY rows, chunk by chunk of persons.

What is kept follows the gateway's ingest (:mod:`gateway.views.ingest`): only for a
person with an in-force consent to a brand, only categories such a consent makes
necessary (its categories), never ``DERIVED`` ones or strings (identifiers and names
nobody aggregates), until the observation plus the longest retention of those
purposes. Each account's platform pushed some of them: counts per account are drawn
so the total is exactly 20 per person, the categories by popularity (demographics
most), the values valid for the standard's JSON Schema, platforms mostly agreeing on
a person's enum values.

The values are drawn by :mod:`bench.views.draws`; ``merged_attribute`` and
``view_value`` are computed from the same values by :mod:`bench.views.merging`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from bench.views.copydata import DAY, Binary, Clock, Ints, binary_rows, uuid_matrix
from bench.views.draws import Leaf, draw, labels
from bench.views.merging import Block, Merged
from bench.views.population import PLATFORMS, PURPOSES, Population, asked
from consent.taxonomy import DataStandard, ValueType
from gateway.members.models import MemberKind
from gateway.views.ingest import DERIVED
from gateway.views.merge import rule_of

BRAND_PURPOSES = (0, 1)  # bits of the purpose mask for purposes brands hold here
POPULARITY = {  # category prefix -> how often platforms push it, relative
    "user.demographic.": 8.0,
    "user.channel.": 5.0,
    "user.content_quality.": 3.0,
    "user.interest.": 2.5,
    "user.transaction.order_": 2.0,
}


class Catalogue:
    """The categories values may be kept for, and per purpose mask which of them and
    for how many days."""

    def __init__(self, standard: DataStandard) -> None:
        self.standard = standard
        self.asks = {
            bit: set(asked(standard, PURPOSES[bit], MemberKind.brand)) for bit in BRAND_PURPOSES
        }
        keys = sorted(
            key
            for key in set().union(*self.asks.values())
            if key not in DERIVED and standard.categories[key].type is not ValueType.string
        )
        self.leaves = [
            Leaf(n, standard.categories[key], rule_of(standard.categories[key]), _weight(key))
            for n, key in enumerate(keys)
        ]
        self.weights = np.array([leaf.weight for leaf in self.leaves])
        masks = 1 << len(BRAND_PURPOSES)
        self.pools = [self._pool(mask) for mask in range(masks)]
        self.pool_sizes = np.array([len(pool) for pool in self.pools])
        self.retention = np.zeros((masks, len(self.leaves)), dtype=np.int64)
        for mask in range(masks):
            for bit in BRAND_PURPOSES:
                if mask >> bit & 1:
                    days = standard.purposes[PURPOSES[bit]].retention_days
                    for leaf in self.leaves:
                        if leaf.key in self.asks[bit]:
                            cell = self.retention[mask, leaf.index]
                            self.retention[mask, leaf.index] = max(cell, days)

    def _pool(self, mask: int) -> Ints:
        wanted = set().union(*(self.asks[b] for b in BRAND_PURPOSES if mask >> b & 1))
        return np.array([leaf.index for leaf in self.leaves if leaf.key in wanted], dtype=np.int64)


def _weight(key: str) -> float:
    return next((w for prefix, w in POPULARITY.items() if key.startswith(prefix)), 1.0)


ATTRIBUTE_COLUMNS = "person_id, category, platform_id, value, num, observed_at, expires_at"
VIEW_COLUMNS = "person_id, category, doc"
MERGED_COLUMNS = "category, person_id, item, num, text"


@dataclass(frozen=True)
class Chunk:
    """A chunk of persons' rows: ``attribute`` and ``view_value`` as binary COPY rows
    in primary-key order, and the merged rows (ordered later, by category first)."""

    attributes: bytes
    attribute_rows: int
    views: bytes
    view_rows: int
    merged: Merged


class Values:
    """Draws the attribute rows of the population, chunk by chunk of persons."""

    def __init__(
        self,
        population: Population,
        standard: DataStandard,
        member_ids: list[str],
        client_ids: list[str],
        clock: Clock,
    ) -> None:
        self.pop = population
        self.catalogue = Catalogue(standard)
        self.clock = clock
        self.platform_ids = np.array(member_ids[: len(PLATFORMS)], dtype=object)
        self.client_ids = np.array(client_ids[: len(PLATFORMS)], dtype=object)
        self.keys = np.array([leaf.key for leaf in self.catalogue.leaves], dtype="S")
        # merge orders a person's observations by platform id (the text)
        self.platform_rank = np.argsort(np.argsort(self.platform_ids.astype(str)))
        self.per_account = self._per_account()

    def _per_account(self) -> Ints:
        """How many values each account's platform pushed: exactly the total."""
        pop, rng = self.pop, np.random.default_rng([self.pop.seed, 2])
        room = self.catalogue.pool_sizes[pop.person_brand_mask[pop.acc_person]]
        weights = room**0.7 * rng.lognormal(0.0, 0.5, len(room))
        total = pop.sizes.attributes
        if total > room.sum():
            raise ValueError(f"{total} values do not fit the consents of this population")
        share = np.floor(total * weights / weights.sum()).astype(np.int64)
        counts: Ints = np.minimum(share, room)
        while (missing := total - int(counts.sum())) > 0:
            free = np.flatnonzero(counts < room)
            counts[rng.choice(free, min(missing, len(free)), replace=False)] += 1
        return counts

    def chunk(self, number: int, first: int, last: int) -> Chunk:
        """The rows of persons [first, last): ``number`` seeds the chunk's draws."""
        pop, catalogue = self.pop, self.catalogue
        rng = np.random.default_rng([pop.seed, 3, number])
        a0, a1 = np.searchsorted(pop.acc_person, [first, last])
        accounts = np.arange(a0, a1)
        masks = pop.person_brand_mask[pop.acc_person[accounts]]
        row_account, row_leaf = [], []
        for mask in range(1, len(catalogue.pools)):
            chosen = accounts[(masks == mask) & (self.per_account[accounts] > 0)]
            pool = catalogue.pools[mask]
            counts = self.per_account[chosen]
            keys = np.log(rng.random((len(chosen), len(pool)))) / catalogue.weights[pool]
            ranked = np.argsort(-keys, axis=1)
            taken = np.arange(len(pool)) < counts[:, None]
            row_account.append(np.repeat(chosen, counts))
            row_leaf.append(pool[ranked[taken]])
        account = np.concatenate(row_account)
        leaf = np.concatenate(row_leaf)
        person = pop.acc_person[account]
        platform = pop.acc_platform[account]
        rank = self.platform_rank[platform]
        order = np.lexsort((rank, person, leaf))  # by category: values are drawn per category
        leaf, person, platform, rank = leaf[order], person[order], platform[order], rank[order]
        bounds = np.searchsorted(leaf, np.arange(len(catalogue.leaves) + 1))
        columns: list[list[npt.NDArray[Any]]] = [[], [], [], []]  # value, num, observed, expires
        merged: list[Merged] = []
        views: list[list[Any]] = [[], [], []]  # person, leaf, doc
        for index, item in enumerate(catalogue.leaves):
            lo, hi = bounds[index], bounds[index + 1]
            if lo == hi:
                continue
            drawn = draw(item, person[lo:hi], rng, self.clock, pop.seed)
            retention = catalogue.retention[pop.person_brand_mask[person[lo:hi]], index]
            columns[0].append(np.asarray(drawn.text, dtype=object))
            columns[1].append(drawn.num)
            columns[2].append(drawn.observed)
            columns[3].append(drawn.observed + retention * DAY)
            block = Block(item, person[lo:hi], rank[lo:hi], drawn)
            merged.append(block.merged())
            entries = block.entries(self.client_ids[platform[lo:hi]], self.clock)
            views[0].append(block.person[block.starts])
            views[1].append(np.full(len(entries), index))
            views[2].append(entries)
        ids = uuid_matrix(pop.person_uuid[first:last])
        by_key = np.lexsort((rank, leaf, person))  # the primary key's order
        value, num, observed, expires = (np.concatenate(c)[by_key] for c in columns)
        attributes = (
            Binary(len(leaf), 7)
            .matrix(ids[person[by_key] - first])
            .text(self.keys[leaf[by_key]])
            .text(self.platform_ids[platform[by_key]])
            .text(value)
            .float8(num)
            .timestamp(observed)
            .timestamp(expires)
            .build()
        )
        view_person, view_leaf = (np.concatenate(c) for c in views[:2])
        docs = np.array([d for part in views[2] for d in part], dtype=object)
        by_view_key = np.lexsort((view_leaf, view_person))
        view_rows = binary_rows(
            ids[view_person[by_view_key] - first].view("S36").ravel().astype("U36").tolist(),
            self.keys[view_leaf[by_view_key]].astype("U").tolist(),
            docs[by_view_key].tolist(),
        )
        return Chunk(attributes, len(leaf), view_rows, len(docs), Merged.join(merged))

    def merged_pieces(self, merged: Merged, size: int = 100_000) -> Iterator[tuple[bytes, int]]:
        """``merged_attribute`` rows (MERGED_COLUMNS) in binary COPY format, in
        primary-key order."""
        ids = uuid_matrix(self.pop.person_uuid)
        bounds = np.searchsorted(merged.leaf, np.arange(len(self.catalogue.leaves) + 1))
        for leaf in self.catalogue.leaves:
            texts = np.array([*labels(leaf.category), ""], dtype="S")
            items = np.array([*leaf.category.values, ""], dtype="S")
            for lo in range(bounds[leaf.index], bounds[leaf.index + 1], size):
                hi = min(lo + size, bounds[leaf.index + 1])
                text = merged.text[lo:hi]
                rows = (
                    Binary(hi - lo, 5)
                    .text(self.keys[merged.leaf[lo:hi]])
                    .matrix(ids[merged.person[lo:hi]])
                    .text(items[merged.item[lo:hi]])
                    .float8(merged.num[lo:hi])
                    .nullable_text(texts[text], text >= 0)
                    .build()
                )
                yield rows, hi - lo
