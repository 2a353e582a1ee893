"""What platforms pushed for the bench population, one category at a time: values
valid for the standard's JSON Schema, drawn with numpy.

- enums: Zipf-like over the standard's values, each person with a usual value that
  85 % of their platforms report (the others report any);
- counts over a window: Poisson around a daily rate per kind of interaction;
  scores: around 60 % of their range; balances: exponential;
- shares in [0, 1]: Beta(0.7, 4), 4 decimals; other floats: exponential in range;
- tag sets: 1 to 4 distinct tags, the standard's first ones more often;
- timestamps: within the last 90 days; observations within the last 30.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import numpy.typing as npt

from bench.views.copydata import DAY, Clock, Ints, Texts
from consent.taxonomy import Category, MergeRule, ValueType
from gateway.views import document

Floats = npt.NDArray[np.float64]
OBSERVED_WITHIN = 30 * DAY
TIMESTAMPS_WITHIN = 90 * DAY
AGREE = 0.85  # how often a platform reports a person's usual enum value
DAILY = {  # interaction kind -> events per day behind its count windows
    "view": 1.5,
    "like": 0.6,
    "favourite": 0.2,
    "comment": 0.15,
    "share": 0.1,
    "follow": 0.05,
}


@dataclass(frozen=True)
class Leaf:
    """A leaf category values are drawn for, with its merge rule and popularity."""

    index: int
    category: Category
    rule: MergeRule
    weight: float  # how often platforms push it, relative to the others

    @property
    def key(self) -> str:
        return self.category.key

    @cached_property
    def json_values(self) -> Texts:
        return np.array([json.dumps(v) for v in self.category.values], dtype=object)

    def tags_json(self, mask: int) -> tuple[str, str]:
        """A tag set (a bit mask over the values) as JSON: as ``json.dumps`` writes it
        (an attribute's value), and compact (a view's entry)."""
        found = self._tags.get(mask)
        if found is None:
            tags = [tag for n, tag in enumerate(self.category.values) if mask >> n & 1]
            found = self._tags[mask] = (json.dumps(tags), document.dumps(tags))
        return found

    @cached_property
    def _tags(self) -> dict[int, tuple[str, str]]:
        return {}

    @cached_property
    def tag_rank(self) -> Ints:
        """Each value's place among the values sorted as text."""
        rank: Ints = np.argsort(np.argsort(np.array(self.category.values, dtype=str)))
        return rank


@dataclass(frozen=True)
class Drawn:
    """The values of one category pushed for some persons, one row each."""

    observed: Ints  # when (Unix seconds)
    raw: Ints | Floats  # the value as a number: enum index, count, tag mask, seconds...
    text: list[str] | Texts  # the value's JSON as json.dumps writes it
    compact: Texts  # ... and as a view's entry holds it
    num: Floats  # merge.numeric of the value, NaN where it has none


def draw(leaf: Leaf, person: Ints, rng: np.random.Generator, clock: Clock, seed: int) -> Drawn:
    category, size = leaf.category, len(person)
    observed = clock.now - rng.integers(0, OBSERVED_WITHIN, size)
    raw: Ints | Floats
    text: list[str] | Texts
    nothing = np.full(size, np.nan)
    match category.type:
        case ValueType.enum:
            count = len(category.values)
            zipf = 1.0 / np.arange(1, count + 1) ** 0.7
            cdf = np.cumsum(zipf / zipf.sum())
            usual = _hash_uniform(seed, leaf.index, person)
            chosen = np.where(rng.random(size) < AGREE, usual, rng.random(size))
            raw = np.minimum(np.searchsorted(cdf, chosen), count - 1)
            text, num = leaf.json_values[raw], nothing
        case ValueType.integer:
            raw = _integers(category, rng, size)
            text, num = list(map(str, raw.tolist())), raw.astype(np.float64)
        case ValueType.float:
            raw = _floats(category, rng, size)
            text, num = list(map(repr, raw.tolist())), raw
        case ValueType.boolean:
            raw = (rng.random(size) < 0.3).astype(np.int64)
            text, num = np.array(["false", "true"], dtype=object)[raw], raw.astype(np.float64)
        case ValueType.timestamp:
            raw = clock.now - rng.integers(0, TIMESTAMPS_WITHIN, size)
            text, num = '"' + clock.texts(raw) + '"', raw.astype(np.float64)
        case ValueType.tag_set:
            raw = _tag_masks(len(category.values), rng, size)
            pairs = [leaf.tags_json(m) for m in raw.tolist()]
            compact = np.array([c for _, c in pairs], dtype=object)
            return Drawn(observed, raw, [t for t, _ in pairs], compact, nothing)
        case _:
            raise ValueError(f"no values drawn for {category.key} ({category.type})")
    return Drawn(observed, raw, text, np.asarray(text, dtype=object), num)


def _hash_uniform(seed: int, leaf: int, person: Ints) -> Floats:
    """A uniform draw fixed per (seed, category, person): the person's usual value."""
    x = (person.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)) ^ np.uint64(
        (seed * 1_000_003 + leaf) & 0xFFFFFFFFFFFFFFFF
    )
    x ^= x >> np.uint64(30)
    x *= np.uint64(0xBF58476D1CE4E5B9)
    x ^= x >> np.uint64(27)
    x *= np.uint64(0x94D049BB133111EB)
    x ^= x >> np.uint64(31)
    return (x >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def _integers(category: Category, rng: np.random.Generator, size: int) -> Ints:
    low = int(category.minimum) if category.minimum is not None else 0
    high = int(category.maximum) if category.maximum is not None else None
    if category.window_days:  # a count over a window: Poisson around a daily rate
        kind = category.key.split(".")[-2]
        daily = DAILY.get(kind, 0.02)
        counts = rng.poisson(daily * category.window_days * rng.lognormal(0.0, 0.8, size))
        drawn = np.asarray(counts, dtype=np.int64) + low
    elif high is not None:  # a score: around 60 % of its range
        spread = high - low
        drawn = np.rint(rng.normal(low + 0.6 * spread, 0.15 * spread, size)).astype(np.int64)
    else:  # a balance
        drawn = np.floor(rng.exponential(1_500.0, size)).astype(np.int64) + low
    return np.clip(drawn, low, high) if high is not None else drawn


def _floats(category: Category, rng: np.random.Generator, size: int) -> Floats:
    low = category.minimum if category.minimum is not None else 0.0
    high = category.maximum if category.maximum is not None else low + 1_000.0
    if high - low <= 1.0:  # a share
        drawn = low + (high - low) * rng.beta(0.7, 4.0, size)
        return np.clip(np.round(drawn, 4), low, high)
    drawn = low + rng.exponential((high - low) / 150, size)
    return np.clip(np.round(drawn, 2), low, high)


def _tag_masks(count: int, rng: np.random.Generator, size: int) -> Ints:
    """1 to 4 distinct tags per value, the earlier ones of the standard more often."""
    how_many = 1 + rng.binomial(3, 0.3, size)
    keys = np.log(rng.random((size, count))) * np.sqrt(np.arange(1, count + 1))
    ranked = np.argsort(-keys, axis=1)
    taken = np.arange(count) < how_many[:, None]
    bits = np.zeros((size, count), dtype=np.int64)
    np.put_along_axis(bits, ranked, taken.astype(np.int64), axis=1)
    masks: Ints = (bits << np.arange(count)).sum(axis=1)
    return masks


def labels(category: Category) -> tuple[str, ...]:
    """What a merged row's text is drawn from: the enum's values or tags, or false/true."""
    if category.type is ValueType.boolean:
        return ("false", "true")
    return category.values
