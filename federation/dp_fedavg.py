"""Person-level DP-FedAvg: sample persons, bound each person's contribution, add noise.

One round of McMahan et al. 2018 ("Learning Differentially Private Recurrent Language
Models", Alg. 1) with the *person* as the privacy unit, although one person's data is
spread over the 1-3 platforms they use. Who does what in a round:

1. **Sample (gateway, :func:`sample`).** Each person consenting at the round's start is
   taken independently with probability q: BLAKE2b keyed with the run key over (round,
   person id), read as a 64-bit integer, below q·2⁶⁴. A person is sampled once, not per
   platform. A withdrawn person is not in the list, so in no later round. One person's
   draw depends on no other id, so the records of persons who never consented change
   nothing: the model is identical with and without them. The key stays in the
   gateway (so not in :class:`Plan`, which every platform sees): whoever can recompute
   the sample knows who was in a round, which voids the amplification by sampling.
   Draws are independent only for distinct (key, round): a retried round takes a new
   number (and a new charge), a new run a new key.
2. **Split the bound (gateway, :func:`clip_shares`).** A sampled person on k platforms
   gets the share w = 1/k of the clipping norm on each; k depends on that person only.
3. **Clip and sum (each platform, :func:`platform_sum`).** A platform computes each
   sampled person's update from all of that person's rows it holds (one row per
   person), clips it to norm w·C and sums. By the triangle inequality a person's total
   has norm ≤ Σ w·C = C even when their updates on all platforms point the same way,
   so adding or removing one person moves the sum of the platforms' sums by at most C:
   the sensitivity the Sampled Gaussian Mechanism needs.
4. **Noise and average (:func:`aggregate`).** N(0, z²C²) per coordinate is added to the
   total, by the server (``central``) or as P shares N(0, z²C²/P), one from each of the
   P platforms (``distributed``). The total is divided by the *expected* number of
   sampled persons q·N (N the consenting population), never by the number actually
   sampled, which would release that count too.

The step to charge is ``SampledGaussian(q, z)`` (:attr:`Plan.step`). z = 0 is a
non-private round: :attr:`Plan.private` is false and :attr:`Plan.step` refuses.

**Alternatives to the 1/k split.** Joint clipping (one party sums each person's
per-platform updates and clips the sum to C) is tighter, as ‖Σu‖ ≤ Σ‖u‖, but that
party sees every person's per-platform update, which federated training exists to
avoid. A uniform w = 1/P tells a platform nothing of the person's other accounts (1/k
tells it k) but shrinks a one-platform person's update P-fold. Weights by the person's
rows per platform fit lopsided activity but reveal it across platforms. Any split with
Σ w ≤ 1 per person keeps the bound: :func:`platform_sum` takes the shares as given.

**Whom each placement trusts.** Central: the server sees the exact sums. Distributed:
the released model carries the full z·C, but a platform knows its own share, so
against it the multiplier is z·√((P−1)/P) (less if platforms collude); without secure
aggregation (not implemented here) the server sees each platform's sum with only
z/√P. A platform skipping its share weakens everyone's guarantee, so a distributed
round is refused unless all P sums arrive (platforms must be honest-but-curious).
Flower's DP wrappers clip and noise a whole platform's update: they protect a
platform, not a person, and nothing here rests on them.

**Numbers.** An update is one float64 vector of all model parameters (:func:`flatten`).
A clipped row is scaled to (1 − 1e-12) of its bound, far above a float64 norm's
rounding, so no norm exceeds it. Noise comes from a :class:`numpy.random.Generator`
the caller seeds (from :mod:`secrets` in production; tests fix it): floating-point
Gaussian noise, as Opacus's default, not a discrete Gaussian (Canonne et al. 2020).
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from numbers import Integral
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from federation.accounting import SampledGaussian
from federation.errors import InvalidRound

Vector = NDArray[np.float64]
PersonIds = Sequence[str] | Sequence[int] | NDArray[np.integer[Any]]

KEY_BYTES = (16, 64)  # BLAKE2b takes keys up to 64 bytes; below 128 bits is guessable
_DOMAIN = b"accord.dpfedavg"  # BLAKE2b personalisation (≤ 16 bytes): hashes for nothing else
_CLIP_MARGIN = 1 - 1e-12


class Placement(StrEnum):
    """Who adds the noise N(0, z²C²) to a round's total."""

    central = "central"  # the server, after summing the platforms' sums
    distributed = "distributed"  # each of the P platforms adds N(0, z²C²/P)


@dataclass(frozen=True)
class Plan:
    """One round's public parameters, the same for the gateway, every platform and the server."""

    round: int
    sampling_rate: float  # q, each consenting person's chance to be in the round
    clip_norm: float  # C, the bound on one person's total contribution
    noise_multiplier: float  # z, noise standard deviation / C; 0 is a non-private round
    placement: Placement
    platforms: int  # P, the platforms taking part
    population: int  # N, persons consenting at the round's start

    def __post_init__(self) -> None:
        _check_count("round", self.round, 0)
        if not 0 < self.sampling_rate <= 1:
            raise InvalidRound(f"sampling rate q must be in (0, 1], got {self.sampling_rate!r}")
        if not (math.isfinite(self.clip_norm) and self.clip_norm > 0):
            raise InvalidRound(f"clip norm C must be positive and finite, got {self.clip_norm!r}")
        if not (math.isfinite(self.noise_multiplier) and self.noise_multiplier >= 0):
            raise InvalidRound(
                f"noise multiplier z must be finite, >= 0, got {self.noise_multiplier!r}"
            )
        try:
            object.__setattr__(self, "placement", Placement(self.placement))
        except ValueError:
            known = ", ".join(p.value for p in Placement)
            raise InvalidRound(f"unknown placement {self.placement!r}; known: {known}") from None
        _check_count("platforms", self.platforms, 1)
        _check_count("population", self.population, 1)

    @property
    def expected_persons(self) -> float:
        """q·N, the average's fixed denominator."""
        return self.sampling_rate * self.population

    @property
    def private(self) -> bool:
        return self.noise_multiplier > 0

    @property
    def noise_std(self) -> float:
        """z·C, the standard deviation of the total noise per coordinate."""
        return self.noise_multiplier * self.clip_norm

    @property
    def step(self) -> SampledGaussian:
        """What the accountant composes for this round."""
        if not self.private:
            raise InvalidRound("z = 0 is not private: nothing to account, nothing to release as DP")
        return SampledGaussian(self.sampling_rate, self.noise_multiplier)


def sample(key: bytes, plan: Plan, persons: PersonIds) -> NDArray[np.bool_]:
    """Which of the round's consenting ``persons`` are sampled, as a mask over them.

    ``persons`` are exactly the N consenting at the round's start: q·N and the
    accountant's q then refer to the same persons.
    """
    if not isinstance(key, bytes) or not KEY_BYTES[0] <= len(key) <= KEY_BYTES[1]:
        raise InvalidRound(f"the run key must be bytes, {KEY_BYTES[0]} to {KEY_BYTES[1]} of them")
    ids = persons.tolist() if isinstance(persons, np.ndarray) else list(persons)
    if len(ids) != plan.population:
        raise InvalidRound(
            f"the plan's population is {plan.population} consenting persons, but"
            f" {len(ids)} ids were given: q·N must count the persons sampled from"
        )
    if len(set(ids)) != len(ids):
        raise InvalidRound("person ids must be distinct: a person is sampled once a round")
    threshold = int(plan.sampling_rate * 2**64)  # exact: scaling by a power of two
    keyed = hashlib.blake2b(digest_size=8, key=key, person=_DOMAIN)
    keyed.update(b"%d\x00" % plan.round)  # digits never contain the separator
    mask = np.empty(len(ids), dtype=np.bool_)
    for index, person in enumerate(ids):
        draw = keyed.copy()
        draw.update(_encode(person))
        mask[index] = int.from_bytes(draw.digest(), "big") < threshold
    return mask


def clip_shares(sampled: Sequence[PersonIds]) -> list[Vector]:
    """Each platform's share 1/k of each of its sampled persons' clipping norm.

    ``sampled[p]`` are the sampled persons platform p holds; k is the number of
    platforms a person is listed on, so a person's shares sum to 1.
    """
    lists = [ids.tolist() if isinstance(ids, np.ndarray) else list(ids) for ids in sampled]
    for platform, ids in enumerate(lists):
        if len(set(ids)) != len(ids):
            raise InvalidRound(f"platform {platform} lists a person twice: one row per person")
    platforms_of = Counter(person for ids in lists for person in ids)
    return [np.array([1 / platforms_of[p] for p in ids], dtype=np.float64) for ids in lists]


def clip(updates: ArrayLike, bounds: ArrayLike) -> tuple[NDArray[np.float64], Vector]:
    """Each row of ``updates`` scaled to norm at most its bound; and the rows' norms before.

    Rows within their bound are returned unchanged (as float64). ``bounds`` is one
    bound for all rows or one per row.
    """
    rows = _matrix(updates, "updates")
    limit = np.broadcast_to(np.asarray(bounds, dtype=np.float64), (len(rows),))
    if not np.all(np.isfinite(limit) & (limit > 0)):
        raise InvalidRound("clipping bounds must be positive and finite")
    norms = np.linalg.norm(rows, axis=1)
    if not np.all(np.isfinite(norms)):
        bad = np.flatnonzero(~np.isfinite(norms)).tolist()
        raise InvalidRound(f"updates in rows {bad[:10]} are not finite: they cannot be bounded")
    over = norms > limit
    factor = np.ones(len(rows))
    factor[over] = limit[over] * _CLIP_MARGIN / norms[over]
    return rows * factor[:, None], norms


def platform_sum(
    plan: Plan,
    updates: ArrayLike,
    shares: ArrayLike,
    rng: np.random.Generator | None = None,
) -> Vector:
    """A platform's contribution: its sampled persons' updates clipped to share·C, summed.

    ``updates`` has one row per sampled person the platform holds (possibly none) and
    ``shares`` one share per row, from :func:`clip_shares`. In a private distributed
    round the platform's noise share N(0, z²C²/P) is added from ``rng``.
    """
    rows = _matrix(updates, "updates")
    weights = np.asarray(shares, dtype=np.float64)
    if weights.shape != (len(rows),):
        raise InvalidRound(
            f"shares must be one per update row: {len(rows)} rows, shares of shape {weights.shape}"
        )
    if not np.all((weights > 0) & (weights <= 1)):
        raise InvalidRound("shares must be in (0, 1]: a person's shares over platforms sum to 1")
    clipped, _ = clip(rows, weights * plan.clip_norm)
    total: Vector = clipped.sum(axis=0)
    if plan.private and plan.placement is Placement.distributed:
        total += _gaussian(rng, plan.noise_std / math.sqrt(plan.platforms), total.shape)
    return total


def aggregate(
    plan: Plan, platform_sums: Sequence[ArrayLike], rng: np.random.Generator | None = None
) -> Vector:
    """The round's average update: the platforms' sums (in the order given), noise, / q·N.

    In a private central round the server's noise N(0, z²C²) is added from ``rng``.
    """
    sums = [np.asarray(s, dtype=np.float64) for s in platform_sums]
    if plan.placement is Placement.distributed and plan.private and len(sums) != plan.platforms:
        raise InvalidRound(
            f"a distributed round needs all {plan.platforms} platforms' sums (noise shares),"
            f" got {len(sums)}"
        )
    if not 1 <= len(sums) <= plan.platforms:
        raise InvalidRound(f"expected 1 to {plan.platforms} platform sums, got {len(sums)}")
    if sums[0].ndim != 1 or any(s.shape != sums[0].shape for s in sums):
        shapes = [s.shape for s in sums]
        raise InvalidRound(f"platform sums must be vectors of one length, got shapes {shapes}")
    total = sums[0].copy()
    for other in sums[1:]:
        total += other
    if plan.private and plan.placement is Placement.central:
        total += _gaussian(rng, plan.noise_std, total.shape)
    return total / plan.expected_persons


def flatten(arrays: Sequence[ArrayLike]) -> Vector:
    """All of a model's parameter arrays as one float64 vector, in order."""
    if len(arrays) == 0:
        raise InvalidRound("a model needs at least one parameter array to flatten")
    return np.concatenate([np.asarray(a, dtype=np.float64).ravel() for a in arrays])


def unflatten(vector: ArrayLike, like: Sequence[NDArray[Any]]) -> list[NDArray[Any]]:
    """``vector`` cut into arrays of the shapes and dtypes of ``like``."""
    flat = np.asarray(vector)
    sizes = [a.size for a in like]
    if flat.shape != (sum(sizes),):
        raise InvalidRound(f"expected a vector of {sum(sizes)} values, got shape {flat.shape}")
    parts = np.split(flat, np.cumsum(sizes)[:-1])
    return [p.reshape(a.shape).astype(a.dtype) for p, a in zip(parts, like, strict=True)]


def _encode(person: object) -> bytes:
    # Tagged, so the person "7" and the person 7 never share a draw.
    if isinstance(person, str):
        return b"s" + person.encode()
    if isinstance(person, Integral) and not isinstance(person, bool):
        return b"i%d" % int(person)
    raise InvalidRound(f"person ids must be strings or integers, got {person!r}")


def _matrix(values: ArrayLike, name: str) -> NDArray[np.float64]:
    matrix = np.asarray(values, dtype=np.float64)
    if matrix.ndim != 2:
        raise InvalidRound(f"{name} must be a matrix, one update per row, got {matrix.shape}")
    return matrix


def _gaussian(rng: np.random.Generator | None, std: float, shape: tuple[int, ...]) -> Vector:
    if not isinstance(rng, np.random.Generator):
        raise InvalidRound("this round adds noise here: pass a numpy Generator seeded from secrets")
    return rng.normal(0.0, std, shape)


def _check_count(name: str, value: int, least: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise InvalidRound(f"{name} must be an integer >= {least}, got {value!r}")
