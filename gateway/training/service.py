"""Training runs: the gateway's side of person-level DP-FedAvg (docs/federation.md).

The gateway holds what no platform and no server may hold alone:

- **Who consents.** A round's population is every person whose consent to the run's
  purpose is in force, for at least one of the run's platforms, at the moment the round
  is planned; each is confirmed by the one decision (:meth:`Consents.eligible`). A
  withdrawal made before a round leaves the person out of it and every later one.
- **The sample.** Persons are Poisson-sampled with rate q by
  :func:`federation.dp_fedavg.sample`, keyed with a per-run key derived from the
  gateway's secret: nobody else can tell who was in a round. Each platform reads only its
  own sampled accounts and their shares of the clipping norm
  (:func:`federation.dp_fedavg.clip_shares`).
- **The charge.** Before the sample exists, the round is charged to the privacy-loss
  ledger (:mod:`consent.budget`): the increase of the RDP accountant's ε over *every*
  round ever charged to the population (all runs, this period), so runs on one
  population compose in RDP and the ledger's total is the accountant's ε for them all.
  The gateway computes ε itself from the run's q and z; a server cannot under-report.
  A round that would pass the cap is refused and the run is marked stopped.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from consent.budget import Charge, Ledger, Period, Spent
from consent.errors import BudgetExceeded
from federation.accounting import Conversion, RdpAccountant, SampledGaussian
from federation.dp_fedavg import Placement, Plan, clip_shares, sample
from gateway.budget.store import SqlBudgetStore
from gateway.consents.service import Consents
from gateway.db import SessionFactory, transaction
from gateway.errors import Conflict, InvalidRequest, NotFound
from gateway.members.models import Member, MemberKind
from gateway.members.registry import Registry
from gateway.runtime import Runtime
from gateway.training.models import TrainingPick, TrainingRound, TrainingRun

ACCOUNTANT = "rdp"  # federation.accounting: sampled Gaussian, integer orders 2..256
CONVERSION = Conversion.improved  # RDP -> (ε, δ), Balle et al. 2020 Thm. 21 (docs)
PAGE = 500  # eligible consents read per query while building a round's population
_KEY_DOMAIN = b"accord.training-run-key\x00"


def population(purpose: str) -> str:
    """The ledger population a purpose's training runs charge together."""
    return f"training:{purpose}"


@dataclass(frozen=True)
class RunSpec:
    name: str
    purpose: str
    platforms: tuple[str, ...]  # member refs (id, client id or name)
    sampling_rate: float
    clip_norm: float
    noise_multiplier: float
    placement: Placement
    max_rounds: int


@dataclass(frozen=True)
class PlannedRound:
    run: TrainingRun
    plan: Plan
    row: TrainingRound
    spent: Spent


class Training:
    def __init__(self, session: Session, rt: Runtime) -> None:
        self.session = session
        self.rt = rt
        self.ledger = Ledger(SqlBudgetStore(session))

    # --- runs ---------------------------------------------------------------------------

    def start(self, spec: RunSpec) -> TrainingRun:
        purpose = self.rt.standard.purposes.get(spec.purpose)
        if purpose is None:
            raise InvalidRequest(f"unknown purpose {spec.purpose!r}")
        if MemberKind.platform.value not in {str(r) for r in purpose.recipients}:
            raise InvalidRequest(f"{spec.purpose!r} has no platform recipients to train with")
        registry = Registry(self.session, self.rt.standard, self.rt.hasher)
        members = [registry.find(MemberKind.platform, ref) for ref in spec.platforms]
        ids = [m.id for m in members]
        if len(set(ids)) != len(ids):
            raise InvalidRequest("a platform is named twice")
        if any(m.status != "active" for m in members):
            raise InvalidRequest("every platform of a run must be active")
        Plan(0, spec.sampling_rate, spec.clip_norm, spec.noise_multiplier, spec.placement, 1, 1)
        if spec.noise_multiplier <= 0:
            raise InvalidRequest("a run at the gateway is private: the noise multiplier z > 0")
        run = TrainingRun(
            id=str(uuid.uuid4()),
            name=spec.name,
            purpose=spec.purpose,
            population=population(spec.purpose),
            platforms=ids,
            sampling_rate=spec.sampling_rate,
            clip_norm=spec.clip_norm,
            noise_multiplier=spec.noise_multiplier,
            placement=spec.placement.value,
            max_rounds=spec.max_rounds,
        )
        self.session.add(run)
        self.session.flush()
        return run

    def run(self, run_id: str) -> TrainingRun:
        run = self.session.get(TrainingRun, run_id) if _is_uuid(run_id) else None
        if run is None:
            raise NotFound("no such training run")
        return run

    def rounds(self, run: TrainingRun) -> list[TrainingRound]:
        query = select(TrainingRound).where(TrainingRound.run_id == run.id)
        return list(self.session.exec(query.order_by(col(TrainingRound.round))))

    def end(self, run: TrainingRun, state: str, reason: str | None, now: datetime) -> TrainingRun:
        if run.state != "running":
            raise Conflict(f"the run is already {run.state}")
        run.state, run.reason, run.ended_at = state, reason, now
        self.session.add(run)
        self.session.flush()
        return run

    # --- rounds -------------------------------------------------------------------------

    def plan(self, run: TrainingRun, number: int, now: datetime, sessions: SessionFactory) -> Any:
        """Charge, then draw round ``number`` of ``run``: the next one, exactly once."""
        if run.state != "running":
            raise Conflict(f"the run is {run.state}: it plans no more rounds")
        done = self.session.exec(
            select(func.count()).select_from(TrainingRound).where(TrainingRound.run_id == run.id)
        ).one()
        if number != done + 1:
            raise Conflict(f"round {number} cannot be planned: the next round is {done + 1}")
        if number > run.max_rounds:
            raise Conflict(f"the run was started for {run.max_rounds} rounds")
        holders = self._consenting(run, now)
        if not holders:
            raise Conflict("no person consents to this purpose on the run's platforms")
        persons = sorted(holders)
        plan = Plan(
            number,
            run.sampling_rate,
            run.clip_norm,
            run.noise_multiplier,
            Placement(run.placement),
            len(run.platforms),
            len(persons),
        )
        try:
            spent, row = self._charge(run, plan, now)
        except BudgetExceeded as refused:
            # The request's transaction ends here (it would roll back anyway): SQLite
            # lets one writer at a time, and the stop is written in its own transaction.
            self.session.rollback()
            self._stop(sessions, run.id, str(refused), now)
            raise
        mask = sample(self._key(run), plan, persons)
        chosen = [p for p, picked in zip(persons, mask, strict=True) if picked]
        by_platform: list[list[str]] = [[] for _ in run.platforms]
        accounts: list[list[str]] = [[] for _ in run.platforms]
        index = {platform: i for i, platform in enumerate(run.platforms)}
        for person in chosen:
            for platform, account in holders[person]:
                by_platform[index[platform]].append(person)
                accounts[index[platform]].append(account)
        for i, shares in enumerate(clip_shares(by_platform)):
            for account, share in zip(accounts[i], shares.tolist(), strict=True):
                self.session.add(
                    TrainingPick(
                        run_id=run.id,
                        round=number,
                        platform_id=run.platforms[i],
                        account_id=account,
                        share=share,
                    )
                )
        self.session.flush()
        return PlannedRound(run, plan, row, spent)

    def picks(
        self, run: TrainingRun, number: int, platform: Member, after: str, limit: int
    ) -> list[TrainingPick]:
        """The platform's sampled accounts in a planned round, in account order."""
        if platform.id not in run.platforms:
            raise NotFound("no such training run")
        if self.session.get(TrainingRound, (run.id, number)) is None:
            raise NotFound(f"round {number} of this run is not planned")
        query = (
            select(TrainingPick)
            .where(
                TrainingPick.run_id == run.id,
                TrainingPick.round == number,
                TrainingPick.platform_id == platform.id,
                col(TrainingPick.account_id) > after,
            )
            .order_by(col(TrainingPick.account_id))
            .limit(limit)
        )
        return list(self.session.exec(query))

    def accountant(self, run_population: str, period: str) -> RdpAccountant:
        """Every round charged to the population in ``period``, composed."""
        counts = self.session.exec(
            select(TrainingRun.sampling_rate, TrainingRun.noise_multiplier, func.count())
            .join(TrainingRound, col(TrainingRound.run_id) == TrainingRun.id)
            .where(TrainingRun.population == run_population, TrainingRound.period == period)
            .group_by(col(TrainingRun.sampling_rate), col(TrainingRun.noise_multiplier))
        ).all()
        return RdpAccountant(steps=tuple((SampledGaussian(q, z), int(n)) for q, z, n in counts))

    # --- inside -------------------------------------------------------------------------

    def _consenting(self, run: TrainingRun, now: datetime) -> dict[str, list[tuple[str, str]]]:
        """person id -> [(platform id, account id)] of every consent in force now."""
        consents = Consents(self.session, self.rt)
        holders: dict[str, list[tuple[str, str]]] = defaultdict(list)
        for platform_id in run.platforms:
            platform = consents.member(platform_id)
            cursor: str | None = None
            while True:
                page, cursor = consents.eligible(platform, run.purpose, now, cursor, PAGE)
                for history, account in page:
                    holders[history.record.person_id].append((platform_id, account))
                if cursor is None:
                    break
        return holders

    def _charge(self, run: TrainingRun, plan: Plan, now: datetime) -> tuple[Spent, TrainingRound]:
        # Lock the population's cap row first: two runs of one population charge one at a
        # time, so each increment is taken over every round charged before it.
        store = SqlBudgetStore(self.session)
        cap = store.cap(run.population, lock=True)
        if cap is None:
            raise BudgetExceeded(f"no privacy budget is set for '{run.population}'")
        if cap.delta <= 0:
            raise BudgetExceeded(f"'{run.population}' has δ 0: a Gaussian release needs δ > 0")
        period = cap.period.key(now)
        before = self.accountant(run.population, period)
        after = before.compose(plan.step)
        was = before.epsilon(cap.delta, CONVERSION)
        now_total = after.epsilon(cap.delta, CONVERSION)
        first = before.rounds == 0
        charge = Charge(
            population=run.population,
            epsilon=max(0.0, now_total.epsilon - was.epsilon),
            # δ is the conversion's, fixed per population: charged once per period.
            delta=cap.delta if first else 0.0,
            accountant=ACCOUNTANT,
            release=f"training run {run.id} ({run.name}) round {plan.round}",
            at=now,
            details={
                **now_total.details(),
                "epsilon_total": now_total.epsilon,
                "delta": cap.delta,
                "run": run.id,
                "round": plan.round,
                "population_size": plan.population,
            },
        )
        spent = self.ledger.charge(charge)
        row = TrainingRound(
            run_id=run.id,
            round=plan.round,
            population=plan.population,
            period=period,
            epsilon_charged=charge.epsilon,
            epsilon_total=now_total.epsilon,
            delta=cap.delta,
            charge_id=charge.charge_id,
            at=now,
        )
        self.session.add(row)
        self.session.flush()
        return spent, row

    def _stop(self, sessions: SessionFactory, run_id: str, reason: str, now: datetime) -> None:
        # Its own transaction: the refused request's transaction rolls back.
        with transaction(sessions) as session:
            run = session.get(TrainingRun, run_id)
            if run is not None and run.state == "running":
                run.state, run.reason, run.ended_at = "stopped", reason[:300], now
                session.add(run)

    def _key(self, run: TrainingRun) -> bytes:
        secret = self.rt.settings.secret_key.get_secret_value().encode()
        return hmac.new(secret, _KEY_DOMAIN + run.id.encode(), hashlib.sha256).digest()


def period_kind(value: str) -> Period:
    try:
        return Period(value)
    except ValueError:
        raise InvalidRequest("period is 'month' or 'total'") from None


def _is_uuid(value: str) -> bool:
    try:
        return str(uuid.UUID(value)) == value
    except ValueError:
        return False
