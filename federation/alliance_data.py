"""The alliance data set: persons on several platforms, a conversion label, seeded.

``alliance(persons, seed, platforms)`` builds one alliance; ``partition(p)`` is all a
platform may read (its own persons' rows), ``validation()`` the server's held-out set.

**Persons and platforms.** Persons have ids ``0..persons-1``. Each is active on 1, 2 or
3 platforms (probabilities 0.5, 0.3, 0.2; never more than ``platforms``), chosen without
replacement in proportion to a per-platform popularity (log-normal, σ 0.5), so platform
sizes differ. A row is one (person, platform) pair; rows are ordered by person, then
platform.

**Features.** :data:`FEATURES` names the 58 numeric categories of the data standard that
purpose ``train_ai_system.profile_model`` declares necessary: interaction counts
(``user.interaction.{shallow,deep}.*.count_{7,30,90}d``), content quality scores,
transaction category shares and order frequency (the tests check each against the
standard). Values are on a standardised scale (a model's input), not raw counts. They
are built the way FedProx's Synthetic builds a device (:mod:`federation.synthetic`):

- every person has a latent profile ``u ~ N(0, I)``, shared by all their platforms, so
  one person's rows on two platforms are correlated;
- platform ``p`` has ``B[p] ~ N(0, β)`` and a mean ``m[p] ~ N(B[p], 1)`` per feature, and
  noise with Synthetic's variances ``(j + 1) ** -1.2`` in its own random order of the
  features (a covariance shift): ``x = u + m[p] + noise``;
- the label models are related: ``w[p] = w0 + N(0, α)`` per feature with a shared
  ``w0 ~ N(0, 1)``, intercepts ``b[p] = b0 + N(0, α)``;
- each platform's mean shift is made orthogonal to every ``w[p]``. Without that, a mean
  shift of Synthetic's size moves a platform's conversion rate anywhere in (0, 1) (as
  Synthetic's device label distributions are), and the base rate could not be held.

**Label.** ``y = 1`` (converted) with probability ``sigmoid(4 * ŵ[p]·u + b[p])``, a
seeded Bernoulli draw; ``b0`` is set (probit approximation) for an overall rate of
``conversion_rate`` (default 0.2, so the majority-class baseline is about 0.8 accuracy
and the Bayes-optimal classifier about 0.91 at α = 0). Measured at 100,000 persons,
seed 1, defaults: majority 0.80, one logistic regression on all partitions 0.876 on
the validation set, each platform's own 0.89-0.91 on its validation rows.

**Validation.** A seeded ``validation`` fraction of persons (default 10%) is held out
with all their rows; no platform's partition contains them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
from numpy.typing import NDArray

from federation.errors import InvalidDataRequest
from federation.synthetic import (
    check_seed,
    check_spread,
    covariance_diagonal,
    read_only,
)

SHALLOW = ("view", "like", "comment", "share", "follow", "favourite")
DEEP = ("trial_review", "co_creation", "customisation", "community_post", "live_qa", "group_buy")
WINDOWS = (7, 30, 90)
QUALITY = ("overall", "originality", "information_value", "interactivity")
VERTICALS = (
    "arts_crafts",
    "automotive",
    "beauty",
    "books_education",
    "digital",
    "fashion",
    "food_farm",
    "games_anime",
    "health_wellness",
    "home",
    "luxury",
    "mother_baby",
    "outdoor",
    "pets",
    "sports",
    "streetwear",
    "travel",
)
FEATURES: tuple[str, ...] = (
    *(f"user.interaction.shallow.{kind}.count_{w}d" for kind in SHALLOW for w in WINDOWS),
    *(f"user.interaction.deep.{kind}.count_{w}d" for kind in DEEP for w in WINDOWS),
    *(f"user.content_quality.{score}" for score in QUALITY),
    *(f"user.transaction.category_share.{vertical}" for vertical in VERTICALS),
    "user.transaction.order_frequency",
)
PLATFORMS_PER_PERSON = (0.5, 0.3, 0.2)  # P(active on 1, 2, 3 platforms)
POPULARITY_SPREAD = 0.5
SIGNAL = 4.0  # logit scale of the latent score ŵ·u ~ N(0, 1)


@dataclass(frozen=True)
class PlatformData:
    """One platform's training partition: its own (not held-out) persons' rows."""

    platform: int
    person: NDArray[np.int64]  # (rows,), ascending person ids
    x: NDArray[np.float32]  # (rows, len(FEATURES))
    y: NDArray[np.int64]  # (rows,), 1 = converted


@dataclass(frozen=True)
class Validation:
    """The server's held-out set: every row of the held-out persons."""

    person: NDArray[np.int64]
    platform: NDArray[np.int64]
    x: NDArray[np.float32]
    y: NDArray[np.int64]


@dataclass(frozen=True)
class Alliance:
    persons: int
    platforms: int
    seed: int
    alpha: float
    beta: float
    membership: NDArray[np.bool_]  # (persons, platforms): active there
    held_out: NDArray[np.bool_]  # (persons,): in the validation set
    person: NDArray[np.int64]  # per row
    platform: NDArray[np.int64]  # per row
    x: NDArray[np.float32]  # per row
    y: NDArray[np.int64]  # per row

    @property
    def features(self) -> tuple[str, ...]:
        return FEATURES

    def partition(self, platform: int) -> PlatformData:
        """What ``platform`` may read: its own persons' rows, the held-out ones removed."""
        if isinstance(platform, bool) or not isinstance(platform, int):
            raise InvalidDataRequest(f"platform must be an integer, got {platform!r}")
        if not 0 <= platform < self.platforms:
            raise InvalidDataRequest(f"platform must be in 0..{self.platforms - 1}, got {platform}")
        rows = np.flatnonzero((self.platform == platform) & ~self.held_out[self.person])
        return PlatformData(
            platform=platform,
            person=read_only(self.person[rows]),
            x=read_only(self.x[rows]),
            y=read_only(self.y[rows]),
        )

    def validation(self) -> Validation:
        rows = np.flatnonzero(self.held_out[self.person])
        return Validation(
            person=read_only(self.person[rows]),
            platform=read_only(self.platform[rows]),
            x=read_only(self.x[rows]),
            y=read_only(self.y[rows]),
        )


def alliance(
    persons: int,
    seed: int,
    platforms: int = 3,
    *,
    alpha: float = 0.5,
    beta: float = 0.5,
    conversion_rate: float = 0.2,
    validation: float = 0.1,
) -> Alliance:
    """Generate an alliance of ``persons`` on ``platforms`` from ``seed``.

    ``alpha`` spreads the platforms' label models, ``beta`` their feature means, as in
    Synthetic(α, β).
    """
    for name, count in (("persons", persons), ("platforms", platforms)):
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise InvalidDataRequest(f"{name} must be an integer >= 1, got {count!r}")
    check_seed(seed)
    check_spread("alpha", alpha)
    check_spread("beta", beta)
    if not 0 < conversion_rate < 1:
        raise InvalidDataRequest(f"conversion_rate must be in (0, 1), got {conversion_rate!r}")
    if not 0 <= validation < 1:
        raise InvalidDataRequest(f"validation must be in [0, 1), got {validation!r}")

    rng = np.random.default_rng(seed)
    dimension = len(FEATURES)

    # Memberships: Gumbel top-k on log-popularity samples k platforms without replacement.
    counts = np.minimum(
        rng.choice(np.arange(1, 4), size=persons, p=PLATFORMS_PER_PERSON), platforms
    )
    keys = rng.normal(0, POPULARITY_SPREAD, platforms) + rng.gumbel(size=(persons, platforms))
    rank = np.argsort(np.argsort(-keys, axis=1), axis=1)
    membership = rank < counts[:, None]
    held_out = np.zeros(persons, dtype=np.bool_)
    held_out[rng.permutation(persons)[: round(validation * persons)]] = True

    # Platform models and shifts, as Synthetic draws a device's.
    latent = rng.standard_normal((persons, dimension))
    shared = rng.standard_normal(dimension)
    weights = shared + rng.normal(0, alpha, (platforms, dimension))
    weights /= np.linalg.norm(weights, axis=1, keepdims=True)
    scale = math.sqrt(math.pi / 8)  # sigmoid(t) ≈ Φ(scale * t)
    base = NormalDist().inv_cdf(conversion_rate) * math.sqrt(1 + (scale * SIGNAL) ** 2) / scale
    intercepts = base + rng.normal(0, alpha, platforms)
    means = rng.normal(0, beta, platforms)[:, None] + rng.standard_normal((platforms, dimension))
    basis, _ = np.linalg.qr(weights.T)
    means -= (means @ basis) @ basis.T
    order = rng.permuted(np.tile(np.arange(dimension), (platforms, 1)), axis=1)
    noise = np.sqrt(covariance_diagonal(dimension))[order]

    person, platform = np.nonzero(membership)
    x = latent[person]
    x += means[platform]
    x += noise[platform] * rng.standard_normal(x.shape)
    score = (latent @ weights.T)[person, platform]
    chance = 1 / (1 + np.exp(-(SIGNAL * score + intercepts[platform])))
    y = (rng.random(len(person)) < chance).astype(np.int64)

    return Alliance(
        persons=persons,
        platforms=platforms,
        seed=seed,
        alpha=float(alpha),
        beta=float(beta),
        membership=read_only(membership),
        held_out=read_only(held_out),
        person=read_only(person.astype(np.int64)),
        platform=read_only(platform.astype(np.int64)),
        x=read_only(x.astype(np.float32)),
        y=read_only(y),
    )
