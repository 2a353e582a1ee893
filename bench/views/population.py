"""Who the views bench is about: the members, the persons, their platform accounts and
their consents, planned in memory from one seed before anything is written.

Per person, on average: 2.5 platform accounts (1 to 5, on distinct platforms, the
larger platforms more often), 5 consent events, 20 attribute values
(:mod:`bench.views.attributes`). Consents, as the gateway records them:

- to the account's platform: ``personalize.content`` (60 % of accounts),
  ``train_ai_system.profile_model`` (20 %), ``identity.sso`` (10 %),
  ``loyalty.points_recognition`` (5 %), and ``identity.linking`` (45 % of the accounts
  of persons with two or more);
- to the bench brand: ``marketing.brand_view`` from 40 % of persons and
  ``analytics.aggregate`` from 40 % (32 % give both);
- to the 19 other brands: 0.45 (brand, purpose) consents per person, Poisson.

Then as many records as it takes to reach exactly 5 events per person are withdrawn
(about 8 %): those have a second event. Everything is drawn with numpy from
``default_rng([seed, ...])``, so one seed gives one population.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import numpy.typing as npt

from bench.views.copydata import DAY, uuids
from consent.taxonomy import DataStandard
from gateway.members.models import MemberKind

Ints = npt.NDArray[np.int64]
Bytes = npt.NDArray[np.uint8]

ACCOUNTS_PER_PERSON = 2.5
EVENTS_PER_PERSON = 5
ATTRIBUTES_PER_PERSON = 20
ACCOUNT_MIX = (0.26, 0.30, 0.22, 0.12, 0.10)  # persons with 1..5 accounts: mean 2.50

# Bit n of a person's purpose mask is PURPOSES[n].
PURPOSES = (
    "marketing.brand_view",
    "analytics.aggregate",
    "personalize.content",
    "train_ai_system.profile_model",
    "identity.linking",
    "identity.sso",
    "loyalty.points_recognition",
)
BRAND_VIEW, ANALYTICS = 0, 1
PLATFORM_CONSENTS = {  # purpose -> share of accounts whose platform gets it
    "personalize.content": 0.60,
    "train_ai_system.profile_model": 0.20,
    "identity.sso": 0.10,
    "loyalty.points_recognition": 0.05,
    "identity.linking": 0.45,  # of the accounts of persons with two or more
}
BENCH_VIEW, BENCH_BOTH, BENCH_ANALYTICS_ONLY = 0.40, 0.32, 0.08
OTHER_BRANDS_RATE = 0.45
# What a platform asks consent for, within each purpose's necessity: brands ask for the
# purpose's whole necessity, platforms for the part they use.
PLATFORM_ASKS = {
    "personalize.content": ("user.demographic.", "user.device.", "user.interest."),
    "train_ai_system.profile_model": (
        "user.content_quality.",
        "user.demographic.",
        "user.transaction.",
    ),
}


@dataclass(frozen=True)
class Fixture:
    """A member as the bench registers it."""

    slug: str
    kind: MemberKind
    name: str
    weight: float  # a platform's share of accounts; a brand's share of the other consents
    purposes: tuple[str, ...]

    @property
    def host(self) -> str:
        return f"{self.slug}.views.bench.example"


_PLATFORM_PURPOSES = (
    "identity.linking",
    "identity.sso",
    "loyalty.points_recognition",
    "personalize.content",
    "train_ai_system.profile_model",
)
_BRAND_PURPOSES = ("analytics.aggregate", "identity.sso", "marketing.brand_view")
PLATFORMS = tuple(
    Fixture(f"platform-{n + 1}", MemberKind.platform, name, weight, _PLATFORM_PURPOSES)
    for n, (name, weight) in enumerate(
        [
            ("Redwood Live Mall", 0.24),
            ("Kite Video Shop", 0.20),
            ("Jade Notes", 0.15),
            ("Harbor Group Buy", 0.12),
            ("Lantern Short Video", 0.10),
            ("Maple Fresh Market", 0.08),
            ("Comet Game Hub", 0.06),
            ("Willow Second Hand", 0.05),
        ]
    )
)
BRANDS = tuple(
    Fixture(
        f"brand-{n + 1:02d}",
        MemberKind.brand,
        f"Views Bench Brand {n + 1:02d}",
        1.0 / (n + 1) if n else 0.0,  # the bench brand's consents are drawn on their own
        _BRAND_PURPOSES,
    )
    for n in range(20)
)
MEMBERS = PLATFORMS + BRANDS
BENCH = len(PLATFORMS)  # the bench brand's index in MEMBERS


@dataclass(frozen=True)
class Sizes:
    persons: int

    @property
    def accounts(self) -> int:
        return round(self.persons * ACCOUNTS_PER_PERSON)

    @property
    def events(self) -> int:
        return self.persons * EVENTS_PER_PERSON

    @property
    def attributes(self) -> int:
        return self.persons * ATTRIBUTES_PER_PERSON


def asked(standard: DataStandard, purpose: str, kind: MemberKind) -> tuple[str, ...]:
    """The leaf categories a member of ``kind`` asks consent for, sorted."""
    necessity = standard.purposes[purpose].necessity
    prefixes = PLATFORM_ASKS.get(purpose) if kind is MemberKind.platform else None
    if prefixes is None:
        return tuple(sorted(necessity))
    return tuple(sorted(c for c in necessity if c.startswith(prefixes)))


@dataclass(frozen=True)
class Population:
    """Persons (by index, ids sorted), accounts and consent records, in arrays.

    Times are seconds before ``now``. Records are ordered by (person, member, purpose),
    which is also their ``record_id`` order."""

    sizes: Sizes
    seed: int
    now: datetime
    person_uuid: Bytes  # (persons, 16), sorted
    person_age: Ints  # seconds since the person was first seen
    acc_person: Ints
    acc_platform: Ints  # index into PLATFORMS (and MEMBERS)
    acc_number: Ints  # the account's number at its platform
    acc_age: Ints  # seconds since it was linked
    rec_person: Ints
    rec_member: Ints  # index into MEMBERS
    rec_purpose: Ints  # index into PURPOSES
    rec_age: Ints  # seconds since valid_from (the "given" event)
    rec_withdrawn: Ints  # seconds since the withdrawal, or -1
    person_brand_mask: Ints  # bit n: an in-force consent for PURPOSES[n] to a brand

    @property
    def in_force(self) -> npt.NDArray[np.bool_]:
        return self.rec_withdrawn < 0


def populate(sizes: Sizes, seed: int, now: datetime) -> Population:
    rng = np.random.default_rng([seed, 1])
    n = sizes.persons
    counts = _account_counts(rng, n)
    acc_person, acc_platform = _accounts(rng, counts)
    order = np.lexsort((acc_person, acc_platform))  # each platform numbers its accounts
    acc_number = np.empty(len(acc_person), dtype=np.int64)
    starts = np.searchsorted(acc_platform[order], np.arange(len(PLATFORMS)))
    acc_number[order] = np.arange(len(order)) - np.repeat(
        starts, np.diff(np.r_[starts, len(order)])
    )
    person_age = rng.integers(200 * DAY, 1_000 * DAY, n)
    acc_age = rng.integers(130 * DAY, 200 * DAY, len(acc_person))

    keys = _record_keys(rng, n, counts, acc_person, acc_platform)
    if len(keys) > sizes.events:  # only at toy sizes: keep exactly as many as events
        keys = np.sort(rng.choice(keys, sizes.events, replace=False))
    width = len(MEMBERS) * len(PURPOSES)
    rec_person, rest = np.divmod(keys, width)
    rec_member, rec_purpose = np.divmod(rest, len(PURPOSES))
    records = len(keys)
    withdrawals = sizes.events - records
    if withdrawals > records:
        raise ValueError(f"{records} records cannot make {sizes.events} events")
    rec_age = rng.integers(DAY, 120 * DAY, records)
    rec_withdrawn = np.full(records, -1, dtype=np.int64)
    chosen = rng.choice(records, withdrawals, replace=False)
    rec_withdrawn[chosen] = (rng.random(withdrawals) * (rec_age[chosen] - 60)).astype(np.int64)

    brand_mask = np.zeros(n, dtype=np.int64)
    kept = (rec_withdrawn < 0) & (rec_member >= len(PLATFORMS))
    np.bitwise_or.at(brand_mask, rec_person[kept], np.left_shift(1, rec_purpose[kept]))
    return Population(
        sizes=sizes,
        seed=seed,
        now=now,
        person_uuid=uuids(rng, n, ordered=True),
        person_age=person_age,
        acc_person=acc_person,
        acc_platform=acc_platform,
        acc_number=acc_number,
        acc_age=acc_age,
        rec_person=rec_person,
        rec_member=rec_member,
        rec_purpose=rec_purpose,
        rec_age=rec_age,
        rec_withdrawn=rec_withdrawn,
        person_brand_mask=brand_mask,
    )


def _account_counts(rng: np.random.Generator, n: int) -> Ints:
    """How many accounts each person has: exactly the mix, shuffled."""
    per = [round(n * share) for share in ACCOUNT_MIX]
    per[1] += n - sum(per)
    counts = np.repeat(np.arange(1, len(ACCOUNT_MIX) + 1), per)
    return rng.permutation(counts)


def _accounts(rng: np.random.Generator, counts: Ints) -> tuple[Ints, Ints]:
    """(person, platform) of every account, by person then platform: each person's
    platforms drawn without replacement by weight (Gumbel top-k)."""
    weights = np.array([p.weight for p in PLATFORMS])
    keys = np.log(rng.random((len(counts), len(PLATFORMS)))) / weights
    ranked = np.argsort(-keys, axis=1)
    taken = np.arange(len(PLATFORMS)) < counts[:, None]
    persons = np.repeat(np.arange(len(counts)), counts)
    platforms = ranked[taken]
    order = np.lexsort((platforms, persons))
    return persons[order].astype(np.int64), platforms[order].astype(np.int64)


def _record_keys(
    rng: np.random.Generator, n: int, counts: Ints, acc_person: Ints, acc_platform: Ints
) -> Ints:
    """Every consent record as person * width + member * len(PURPOSES) + purpose,
    distinct and sorted."""
    width = len(MEMBERS) * len(PURPOSES)

    def key(person: Ints, member: Ints | int, purpose: Ints | int) -> Ints:
        return np.asarray(person * width + np.asarray(member) * len(PURPOSES) + purpose)

    parts = []
    several = counts[acc_person] >= 2
    for purpose, share in PLATFORM_CONSENTS.items():
        eligible = several if purpose == "identity.linking" else True
        taken = (rng.random(len(acc_person)) < share) & eligible
        parts.append(key(acc_person[taken], acc_platform[taken], PURPOSES.index(purpose)))
    draw = rng.random(n)
    view = draw < BENCH_VIEW
    analytics = (draw < BENCH_BOTH) | (
        (draw >= BENCH_VIEW) & (draw < BENCH_VIEW + BENCH_ANALYTICS_ONLY)
    )
    everyone = np.arange(n)
    parts.append(key(everyone[view], BENCH, BRAND_VIEW))
    parts.append(key(everyone[analytics], BENCH, ANALYTICS))
    others = np.arange(BENCH + 1, len(MEMBERS))
    weights = np.array([MEMBERS[m].weight for m in others])
    how_many = rng.poisson(OTHER_BRANDS_RATE, n)
    persons = np.repeat(everyone, how_many)
    brands = rng.choice(others, len(persons), p=weights / weights.sum())
    parts.append(key(persons, brands, rng.integers(0, 2, len(persons))))
    return np.unique(np.concatenate(parts))
