"""``accord train --demo``: a short person-level DP-FedAvg run over the demo alliance.

``make run`` serves a gateway with the demo platforms registered and their credentials
in ``var/demo/<slug>.json``. This module is the trainer (the operator's SDK client) and,
in process, every demo platform (each with its own SDK client and key):

1. Each platform asks the gateway which of its accounts consent to
   ``train_ai_system.profile_model`` now. Nobody consenting ends the demo there.
2. The trainer reads the purpose's (ε, δ) cap, setting one if the operator has not
   (:data:`DEMO_CAP`, δ ≤ N^-1.1), picks z for the run's ε target at that δ and starts
   a run. The gateway plans every round (:class:`~federation.coordinators.GatewayCoordinator`):
   consent gate, ledger charge, keyed sample. A refused charge stops the run with its
   last good model.
3. A platform's data is made up, but it is the platform's own and stable:
   :class:`World` derives each account's row (the alliance data set's features, a
   conversion label) from the platform and the account id, so the same account always
   has the same row. A platform reads its sampled accounts from the gateway each round
   (:func:`~federation.coordinators.gateway_picks`) and contributes their clipped updates
   (:func:`~federation.training.contribute`).
4. The model is evaluated on held-out synthetic accounts the gateway never saw, and
   registered at the gateway, which writes the privacy fields of its card.

The non-private baseline is a logistic regression fitted on every consenting account's
row pooled in one place, which only a demo whose data is generated can afford to do.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from statistics import NormalDist
from typing import Any

import numpy as np
from numpy.typing import NDArray

from federation.accounting import Conversion, noise_multiplier_for
from federation.alliance_data import FEATURES, SIGNAL, PlatformData, Validation
from federation.coordinators import GatewayCoordinator, gateway_picks
from federation.dp_fedavg import Placement
from federation.errors import FederationError, InvalidRound
from federation.synthetic import covariance_diagonal
from federation.training import (
    BudgetStop,
    Hyper,
    Planned,
    Reply,
    RoundLog,
    RoundRequest,
    contribute,
    train,
)
from sdk import (
    AccordError,
    APIError,
    AuthenticationError,
    OperatorClient,
    OperatorToken,
    PermissionDeniedError,
    PlatformClient,
    PrivateKeyJWT,
    TrainingBudget,
    TransportError,
)

PURPOSE = "train_ai_system.profile_model"
MODEL_NAME = "demo-conversion"
DEMO_CAP = 10.0  # the population's ε cap the demo sets when the operator has set none
DELTA_CEILING = 1e-5
# gateway.settings.DEV_SECRETS["operator_token"], which a development gateway accepts and any
# other refuses (federation may not import the gateway; a test pins the two equal).
DEVELOPMENT_OPERATOR_TOKEN = "development-only-operator-token-do-not-deploy-00"  # noqa: S105 - public
HELD_OUT = 1_000  # synthetic accounts per platform in the validation set
PAGE = 1_000  # the eligibility API's largest page
# The gateway's consent gate reads every consent of the population each round (about
# 1 ms a consent today), so a round over the demo's ~1,500 persons takes a second or two.
ROUNDS = 20
SAMPLING_RATE = 0.2  # q: ~300 of 1,500 persons a round, enough to average the noise out


class DemoError(FederationError):
    """The demo cannot run; the message says why in one line and what to do."""


@dataclass(frozen=True)
class DemoPlatform:
    slug: str
    name: str
    client_id: str
    private_jwk: dict[str, Any]
    issuer: str


@dataclass(frozen=True)
class DemoSettings:
    gateway: str
    folder: Path
    rounds: int = ROUNDS
    epsilon: float = 3.0  # the run's own ε target; sets z unless z is given
    z: float | None = None
    q: float = SAMPLING_RATE
    clip: float = 1.0
    placement: Placement = Placement.central
    server_lr: float = 8.0
    seed: int = 0
    environ: Mapping[str, str] = field(default_factory=dict)


def credentials(folder: Path) -> list[DemoPlatform]:
    """The demo platforms' credentials ``make run`` wrote, in slug order."""
    found: list[DemoPlatform] = []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            entry = json.loads(path.read_text(encoding="utf-8"))
            if entry.get("kind") != "platform":
                continue
            found.append(
                DemoPlatform(
                    path.stem,
                    str(entry["name"]),
                    str(entry["client_id"]),
                    dict(entry["private_jwk"]),
                    str(entry["issuer"]).rstrip("/"),
                )
            )
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
            raise DemoError(f"{path} holds no demo platform's credentials ({error})") from None
    if not found:
        raise DemoError(
            f"no demo platform credentials in {folder}/: start the demo with `make run`"
            " (it seeds them), or name their folder with --demo-dir"
        )
    return found


def operator_token(environ: Mapping[str, str]) -> str:
    """``ACCORD_OPERATOR_TOKEN`` as the gateway reads it; the development default else."""
    token = environ.get("ACCORD_OPERATOR_TOKEN", "")
    if token:
        return token
    if environ.get("ACCORD_ENV", "development") == "development":
        return DEVELOPMENT_OPERATOR_TOKEN
    raise DemoError("set ACCORD_OPERATOR_TOKEN to the operator token of the gateway")


class World:
    """The demo's synthetic data, built like :mod:`federation.alliance_data` but row by
    row: an account's latent profile comes from its id alone (an account id two
    platforms share is one person, correlated across them), its platform's shift and
    noise and its label from (platform, account id). Nothing depends on which other
    accounts exist, so the same account always has the same row."""

    def __init__(self, slugs: Sequence[str], seed: int, alpha: float = 0.5, beta: float = 0.5):
        self.slugs, self.seed = list(slugs), seed
        platforms, d = len(self.slugs), len(FEATURES)
        rng = np.random.default_rng([seed, 8])
        weights = rng.standard_normal(d) + rng.normal(0, alpha, (platforms, d))
        self.weights = weights / np.linalg.norm(weights, axis=1, keepdims=True)
        scale = math.sqrt(math.pi / 8)  # sigmoid(t) ≈ Φ(scale * t): base rate 0.2
        base = NormalDist().inv_cdf(0.2) * math.sqrt(1 + (scale * SIGNAL) ** 2) / scale
        self.intercepts = base + rng.normal(0, alpha, platforms)
        means = rng.normal(0, beta, platforms)[:, None] + rng.standard_normal((platforms, d))
        basis, _ = np.linalg.qr(self.weights.T)
        self.means = means - (means @ basis) @ basis.T
        order = rng.permuted(np.tile(np.arange(d), (platforms, 1)), axis=1)
        self.noise = np.sqrt(covariance_diagonal(d))[order]
        self._rows: dict[tuple[int, str], tuple[NDArray[np.float64], int]] = {}

    def rows(self, platform: int, accounts: Sequence[str]) -> PlatformData:
        """The platform's rows of ``accounts``, in their order (row i is person i)."""
        made = [self._row(platform, account) for account in accounts]
        x = np.array([m[0] for m in made], dtype=np.float32).reshape(len(made), len(FEATURES))
        y = np.array([m[1] for m in made], dtype=np.int64)
        return PlatformData(platform, np.arange(len(made), dtype=np.int64), x, y)

    def held_out(self, per_platform: int = HELD_OUT) -> Validation:
        """Synthetic accounts no gateway knows, drawn from the same distribution."""
        rng = np.random.default_rng([self.seed, 9])
        d, parts = len(FEATURES), []
        for p in range(len(self.slugs)):
            latent = rng.standard_normal((per_platform, d))
            x = latent + self.means[p] + self.noise[p] * rng.standard_normal(latent.shape)
            y = rng.random(per_platform) < _sigmoid(
                SIGNAL * latent @ self.weights[p] + self.intercepts[p]
            )
            parts.append((np.full(per_platform, p), x, y))
        platform, x, y = (np.concatenate(column) for column in zip(*parts, strict=True))
        return Validation(
            np.arange(len(y), dtype=np.int64),
            platform.astype(np.int64),
            x.astype(np.float32),
            y.astype(np.int64),
        )

    def _row(self, p: int, account: str) -> tuple[NDArray[np.float64], int]:
        key = (p, account)
        if key not in self._rows:
            latent = self._rng("person", account).standard_normal(len(FEATURES))
            own = self._rng(self.slugs[p], account)
            x = latent + self.means[p] + self.noise[p] * own.standard_normal(len(FEATURES))
            chance = _sigmoid(SIGNAL * float(latent @ self.weights[p]) + self.intercepts[p])
            self._rows[key] = (x, int(own.random() < chance))
        return self._rows[key]

    def _rng(self, domain: str, account: str) -> np.random.Generator:
        message = f"{domain}\x00{account}".encode()
        digest = hashlib.blake2b(message, digest_size=16, person=b"accord.demo").digest()
        return np.random.default_rng([self.seed, int.from_bytes(digest, "big")])


def run(
    settings: DemoSettings,
    on_round: Callable[[RoundLog], None] | None = None,
) -> dict[str, Any]:
    """The demo run against the gateway at ``settings.gateway``; its report."""
    started = time.monotonic()
    gateway = settings.gateway.rstrip("/")
    platforms = credentials(settings.folder)
    for platform in platforms:
        if platform.issuer != gateway:
            raise DemoError(
                f"the demo credentials in {settings.folder}/ are for the gateway at"
                f" {platform.issuer}, not {gateway}: pass --gateway {platform.issuer}"
            )
    operator = OperatorClient(gateway, auth=OperatorToken(operator_token(settings.environ)))
    clients = [
        PlatformClient(gateway, auth=PrivateKeyJWT(p.client_id, p.private_jwk)) for p in platforms
    ]
    try:
        report = _run(settings, operator, platforms, clients, on_round)
    except TransportError as error:
        raise DemoError(
            f"the gateway at {gateway} does not answer ({error}): start the demo with `make run`"
        ) from None
    except APIError as error:
        raise DemoError(f"the gateway refused: {error.description or error}") from None
    except AccordError as error:
        raise DemoError(
            f"the gateway at {gateway} answered what no Accord gateway would: {error}"
        ) from None
    finally:
        for client in [operator, *clients]:
            client.close()
    report["seconds"] = round(time.monotonic() - started, 1)
    return report


def _run(
    settings: DemoSettings,
    operator: OperatorClient,
    platforms: list[DemoPlatform],
    clients: list[PlatformClient],
    on_round: Callable[[RoundLog], None] | None,
) -> dict[str, Any]:
    operator.health()
    budget = _budget(operator)
    consenting = {p.slug: _consenting(p, c) for p, c in zip(platforms, clients, strict=True)}
    accounts = sum(len(a) for a in consenting.values())
    if not accounts:
        raise DemoError(
            f"nobody consents to {PURPOSE} at {', '.join(consenting)}: the demo trains only"
            " on consenting accounts"
        )
    if budget is None:  # the first demo run sets the population's cap
        delta = min(DELTA_CEILING, accounts**-1.1)  # accounts ≥ persons: the stricter δ
        budget = operator.set_training_budget(PURPOSE, epsilon=DEMO_CAP, delta=delta)
    if budget.epsilon_remaining <= 0:
        raise DemoError(_exhausted(budget, "nothing is left"))
    z = (
        settings.z
        if settings.z is not None
        else noise_multiplier_for(
            settings.epsilon,
            budget.delta_cap,
            sampling_rate=settings.q,
            rounds=settings.rounds,
            conversion=Conversion.improved,
        )
    )
    started = operator.start_run(
        name=MODEL_NAME,
        purpose=PURPOSE,
        platforms=[p.client_id for p in platforms],
        sampling_rate=settings.q,
        clip_norm=settings.clip,
        noise_multiplier=z,
        rounds=settings.rounds,
        placement=settings.placement.value,
    )
    world = World([p.slug for p in platforms], settings.seed)
    validation = world.held_out()
    coordinator = _Coordinator(operator, started.id)
    try:
        result = train(
            coordinator,
            _send(world, platforms, clients, started.id),
            Hyper(rounds=settings.rounds, server_lr=settings.server_lr),
            validation,
            seed=settings.seed,
            noise=np.random.default_rng(),
            on_round=on_round,
        )
    except KeyboardInterrupt:  # Ctrl+C: the gateway's run ends too
        operator.end_run(started.id, "failed", "interrupted")
        raise
    if not result.rounds:
        if result.state == "stopped":
            raise DemoError(_exhausted(_budget(operator) or budget, result.reason or ""))
        raise DemoError(f"the run {result.state} before its first round: {result.reason}")
    model = coordinator.register(result, MODEL_NAME) if result.state != "failed" else None
    after = operator.training_run(started.id)
    spent = _budget(operator) or budget
    pooled = _pooled_accuracy(world, consenting, validation)
    shares = (
        dict(zip(consenting, result.contributions.shares(), strict=True))
        if result.contributions
        else None
    )
    return {
        "gateway": settings.gateway.rstrip("/"),
        "run_id": started.id,
        "state": result.state,
        "reason": result.reason,
        "rounds": len(result.rounds),
        "rounds_asked": settings.rounds,
        "epsilon": result.epsilon,  # the population's, every run composed (the gateway's)
        "epsilon_run": model.card["privacy"]["epsilon_this_run"] if model else None,
        "delta": after.rounds[-1].delta,
        "mechanism": {
            "q": settings.q,
            "clip": settings.clip,
            "z": z,
            "placement": settings.placement.value,
        },
        "ledger": {
            "charged": sum(r.epsilon_charged for r in after.rounds),
            "spent": spent.epsilon_spent,
            "cap": spent.epsilon_cap,
            "remaining": spent.epsilon_remaining,
            "population": spent.population,
        },
        "consenting_accounts": {slug: len(a) for slug, a in consenting.items()},
        "persons_per_round": [r.population for r in after.rounds],
        "initial_accuracy": result.initial_accuracy,
        "accuracy": result.rounds[-1].accuracy,
        "non_private_accuracy": pooled,
        "majority": max(float(np.mean(validation.y)), 1 - float(np.mean(validation.y))),
        "validation_accounts": len(validation.y),
        "shares": shares,
        "model": {"id": model.id, "name": model.name, "version": model.version} if model else None,
    }


class _Coordinator(GatewayCoordinator):
    """A refusal other than the budget's fails the run (the loop then tells the gateway)."""

    def plan(self, number: int) -> Planned:
        try:
            return super().plan(number)
        except BudgetStop:
            raise
        except APIError as refused:
            raise InvalidRound(f"round {number}: {refused.description or refused}") from None


def _send(
    world: World, platforms: list[DemoPlatform], clients: list[PlatformClient], run_id: str
) -> Callable[[RoundRequest], tuple[list[Reply], list[str]]]:
    """Every demo platform in turn: its sampled accounts from the gateway, their rows,
    its clipped sum (and noise share, if distributed). One that fails is left out."""
    noise = [np.random.default_rng() for _ in platforms]

    def send(request: RoundRequest) -> tuple[list[Reply], list[str]]:
        replies: list[Reply] = []
        lost: list[str] = []
        for p, client in enumerate(clients):
            try:
                picks = gateway_picks(client, run_id, request.planned.plan.round)
            except AccordError as error:
                lost.append(f"{platforms[p].slug}: {error}")
                continue
            data = world.rows(p, [account for account, _ in picks])
            local = [(str(i), share) for i, (_, share) in enumerate(picks)]
            replies.append(Reply(p, contribute(request, data, local, noise[p])))
        return replies, lost

    return send


def _budget(operator: OperatorClient) -> TrainingBudget | None:
    """The purpose's cap and what is spent; None if no cap is set."""
    try:
        return operator.training_budget(PURPOSE)
    except AuthenticationError:
        raise DemoError(
            "the gateway refused the operator token: set ACCORD_OPERATOR_TOKEN to its own"
        ) from None
    except PermissionDeniedError as refused:
        if refused.code == "budget_exhausted":  # a cap that is set is read, never refused
            return None
        raise


def _consenting(platform: DemoPlatform, client: PlatformClient) -> list[str]:
    """The platform's accounts whose consent to the purpose is in force, every page."""
    accounts: list[str] = []
    cursor: str | None = None
    try:
        while True:
            page = client.eligible(PURPOSE, cursor=cursor, limit=PAGE)
            accounts += [a.account_id for a in page.accounts]
            cursor = page.next_cursor
            if cursor is None:
                return accounts
    except AuthenticationError:
        raise DemoError(
            f"the gateway does not know the demo platform {platform.slug!r}"
            f" ({platform.client_id}): seed the demo on it with `make run` or `accord demo seed`"
        ) from None


def _exhausted(budget: TrainingBudget, why: str) -> str:
    return (
        f"the privacy budget of {budget.population} is exhausted (ε {budget.epsilon_spent:.3f}"
        f" of {budget.epsilon_cap:g} spent; {why}): the operator may raise the cap with"
        f" PUT /v1/admin/training/budgets/{PURPOSE}"
    )


def _pooled_accuracy(
    world: World, consenting: Mapping[str, Sequence[str]], validation: Validation
) -> float:
    """Validation accuracy of a logistic regression fitted (Newton, a small ridge) on
    every consenting account's row pooled in one place: the non-private baseline."""
    rows = [world.rows(p, a) for p, a in enumerate(consenting.values()) if a]
    x = np.hstack([np.vstack([r.x for r in rows]), np.ones((sum(len(r.y) for r in rows), 1))])
    y = np.concatenate([r.y for r in rows]).astype(np.float64)
    w = np.zeros(x.shape[1])
    ridge = np.eye(x.shape[1])
    for _ in range(30):
        p = _sigmoid(x @ w)
        step = np.linalg.solve((x.T * (p * (1 - p))) @ x + ridge, x.T @ (p - y) + ridge @ w)
        w -= step
        if np.max(np.abs(step)) < 1e-8:
            break
    logits = validation.x.astype(np.float64) @ w[:-1] + w[-1]
    return float(np.mean((logits > 0) == (validation.y == 1)))


def _sigmoid(t: Any) -> Any:
    return 1 / (1 + np.exp(-np.asarray(t, dtype=np.float64)))
