"""The alliance's KPIs, counted in SQL when asked for (``docs/kpis.md`` defines each).

Every figure is a COUNT or SUM the database computes over an index range, never a Python
loop over rows, and nothing is cached: the JSON read-out and the Prometheus scrape count
the same way at the moment they are asked.

- Flows (consents asked, given, withdrawn; rights requests completed) count the window
  ``[now - days, now)``: consent events through ``ix_consent_event_type_at_method``,
  consent asks through ``shown_at``.
- Stocks (unified identities, cross-platform attributes) count every person up to
  :data:`SAMPLE_PERSONS`, and beyond that a uniform sample of persons by id (a key range
  of the person-led indexes), scaled back: scanning 20 million attribute rows takes
  seconds, a sample of 20,000 persons well under one.

Rates whose denominator is zero are ``None``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, literal, select
from sqlmodel import Session

from consent.budget import Period
from consent.records import EventType
from consent.rights import RequestState
from gateway.budget.models import BudgetCap, BudgetTotal
from gateway.consents.models import ConsentEventRow
from gateway.db import core, utcnow
from gateway.identity.models import Person, PlatformAccount
from gateway.members.models import Member, MemberKind
from gateway.operator.asks import ASK
from gateway.operator.figures import (
    Authorisation,
    BrandBudget,
    Interoperability,
    Sample,
    Snapshot,
    Timeliness,
    Unification,
    Withdrawal,
    ratio,
)
from gateway.rights.models import RightsRequestRow
from gateway.views.models import Attribute

DEFAULT_DAYS = 30
MAX_DAYS = 366
# The stock KPIs count every person up to this many, and a uniform sample of about this
# many beyond: a sampled rate's standard error is at most 0.5/sqrt(n) for n sampled
# persons in its denominator (0.35 points for 20,000), and the attribute scan reads about
# 20 rows a sampled person instead of every row.
SAMPLE_PERSONS = 20_000
ID_SPACE = 16**8  # the first 8 hex digits of a UUID
# A brand's privacy-budget population (consent/budget.py): "brand:" + its member id.
BRAND_POPULATION = "brand:"
# The evidence methods of consents the gateway's own pages record: the consent screen
# (gateway/oauth/consent_step.py) and the consent center, account links included
# (gateway/web/center.py). Every other "given" event was recorded by a member platform
# through the member API, from a prompt of its own.
GATEWAY_METHODS = ("consent_screen", "consent_center")

PERSON, ACCOUNT, ATTRIBUTE = core(Person), core(PlatformAccount), core(Attribute)
EVENT, REQUEST, MEMBER = core(ConsentEventRow), core(RightsRequestRow), core(Member)
CAP, TOTAL = core(BudgetCap), core(BudgetTotal)


def _in_sample(sample: Sample, person_id: ColumnElement[str]) -> list[ColumnElement[bool]]:
    return [] if sample.bound is None else [person_id < sample.bound]


def _tally(condition: ColumnElement[bool]) -> ColumnElement[Any]:
    """How many rows meet ``condition`` (0 over no rows)."""
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


class Kpis:
    def __init__(
        self,
        session: Session,
        *,
        clock: Callable[[], datetime] = utcnow,
        sample_persons: int = SAMPLE_PERSONS,
    ) -> None:
        self.session = session
        self.clock = clock
        self.sample_persons = sample_persons

    def snapshot(self, days: int = DEFAULT_DAYS) -> Snapshot:
        if not 1 <= days <= MAX_DAYS:
            raise ValueError(f"the window is 1 to {MAX_DAYS} days")
        now = self.clock()
        since = now - timedelta(days=days)
        given, member_recorded, withdrawn = self._events(since, now)
        sample = self.sample()
        return Snapshot(
            at=now,
            days=days,
            since=since,
            sample=sample,
            unification=self.unification(sample),
            interoperability=self.interoperability(sample),
            authorisation=self._authorisation(since, now, member_recorded),
            withdrawal=Withdrawal(given=given, withdrawn=withdrawn),
            rights=self.rights(since, now),
            budgets=self.budgets(now),
        )

    # --- stocks: the state now -----------------------------------------------------------

    def sample(self) -> Sample:
        """Every person, or (past ``sample_persons``) those whose id falls below a bound."""
        persons = int(self.session.execute(select(func.count()).select_from(PERSON)).scalar_one())
        if persons <= self.sample_persons:
            return Sample(persons=persons, sampled=persons, bound=None)
        # Person ids are random UUIDs (version 4): the ids below a bound on their first 8
        # hex digits are a uniform sample, and a key range of every index led by person.
        share = ID_SPACE * self.sample_persons // persons
        bound = f"{min(share, ID_SPACE - 1):08x}"
        sampled = self.session.execute(
            select(func.count()).select_from(PERSON).where(PERSON.c.id < bound)
        ).scalar_one()
        return Sample(persons=persons, sampled=int(sampled), bound=bound)

    def unification(self, sample: Sample) -> Unification:
        linked = (
            select(ACCOUNT.c.person_id)
            .where(*_in_sample(sample, ACCOUNT.c.person_id))
            .group_by(ACCOUNT.c.person_id)
            .having(func.count() >= 2)
            .subquery()
        )
        unified = int(self.session.execute(select(func.count()).select_from(linked)).scalar_one())
        return Unification(
            persons=sample.persons,
            unified=sample.scale(unified),
            rate=ratio(unified, sample.sampled),
        )

    def interoperability(self, sample: Sample) -> Interoperability:
        persons, cross = self._spread(ATTRIBUTE.c.person_id, sample)
        categories, cross_categories = self._spread(ATTRIBUTE.c.category, sample)
        return Interoperability(
            persons=sample.scale(persons),
            cross_platform=sample.scale(cross),
            rate=ratio(cross, persons),
            categories=categories,  # seen in the sample: not scaled
            cross_platform_categories=cross_categories,
        )

    def _spread(self, key: Any, sample: Sample) -> tuple[int, int]:
        """Distinct values of ``key`` among the sample's attributes, and those pushed by
        two or more platforms (their lowest and highest platform differ)."""
        groups = (
            select(
                func.min(ATTRIBUTE.c.platform_id).label("first"),
                func.max(ATTRIBUTE.c.platform_id).label("last"),
            )
            .where(*_in_sample(sample, ATTRIBUTE.c.person_id))
            .group_by(key)
            .subquery()
        )
        row = self.session.execute(
            select(func.count(), _tally(groups.c.first != groups.c.last))
        ).one()
        return int(row[0]), int(row[1])

    def budgets(self, now: datetime) -> list[BrandBudget]:
        """Every brand's ε this period: spent, cap and what remains (no cap: none)."""
        period = case(
            (CAP.c.period == Period.month.value, Period.month.key(now)),
            else_=Period.total.key(now),
        )
        joined = MEMBER.outerjoin(
            CAP, CAP.c.population == literal(BRAND_POPULATION) + MEMBER.c.id
        ).outerjoin(TOTAL, and_(TOTAL.c.population == CAP.c.population, TOTAL.c.period == period))
        rows = self.session.execute(
            select(MEMBER.c.client_id, MEMBER.c.name, CAP.c.period, CAP.c.epsilon, TOTAL.c.epsilon)
            .select_from(joined)
            .where(MEMBER.c.kind == MemberKind.brand.value)
            .order_by(MEMBER.c.client_id)
        ).all()
        return [
            BrandBudget(
                client_id=client_id,
                name=name,
                period=Period(kind).key(now) if kind is not None else None,
                spent=float(spent or 0.0),
                cap=cap,
            )
            for client_id, name, kind, cap, spent in rows
        ]

    # --- flows: what happened in the window [since, until) ---------------------------------

    def _events(self, since: datetime, until: datetime) -> tuple[int, int, int]:
        """Consents given, of those the ones members recorded, and withdrawals."""
        given = EVENT.c.type == EventType.given.value
        row = self.session.execute(
            select(
                _tally(given),
                _tally(and_(given, EVENT.c.method.not_in(GATEWAY_METHODS))),
                _tally(EVENT.c.type == EventType.withdrawn.value),
            ).where(
                EVENT.c.type.in_([EventType.given.value, EventType.withdrawn.value]),
                EVENT.c.at >= since,
                EVENT.c.at < until,
            )
        ).one()
        return int(row[0]), int(row[1]), int(row[2])

    def _authorisation(self, since: datetime, until: datetime, members: int) -> Authorisation:
        row = self.session.execute(
            select(
                func.coalesce(func.sum(ASK.c.asked), 0),
                func.coalesce(func.sum(ASK.c.given), 0),
                func.coalesce(func.sum(case((ASK.c.answer.is_(None), ASK.c.asked), else_=0)), 0),
            ).where(ASK.c.shown_at >= since, ASK.c.shown_at < until)
        ).one()
        asked, given, unanswered = int(row[0]), int(row[1]), int(row[2])
        return Authorisation(
            screen_asked=asked,
            screen_given=given,
            screen_refused=asked - given - unanswered,
            screen_unanswered=unanswered,
            member_recorded=members,
        )

    def rights(self, since: datetime, until: datetime) -> Timeliness:
        completed = self.session.execute(
            select(func.count(), _tally(REQUEST.c.completed_at <= REQUEST.c.due_at)).where(
                REQUEST.c.state == RequestState.completed.value,
                REQUEST.c.completed_at >= since,
                REQUEST.c.completed_at < until,
            )
        ).one()
        overdue = self.session.execute(
            select(func.count()).where(
                REQUEST.c.state == RequestState.received.value, REQUEST.c.due_at < until
            )
        ).scalar_one()
        return Timeliness(
            completed=int(completed[0]), on_time=int(completed[1]), open_overdue=int(overdue)
        )
