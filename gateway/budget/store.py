"""SQL implementation of :class:`consent.budget.BudgetStore` (SQLite and PostgreSQL).

The charge is one conditional UPDATE of the running total (``WHERE spent + ε <= cap``):
PostgreSQL re-checks the condition on the newest row version after waiting for the
row lock, and SQLite runs one writer at a time, so concurrent charges can never
pass the cap together. The session's transaction (owned by the caller) writes the
charge row with it, or neither.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from consent.budget import Cap, Charge, Period, exceeded
from gateway.budget.models import BudgetCap, BudgetCharge, BudgetTotal
from gateway.db import core, utcnow


class SqlBudgetStore:
    def __init__(self, session: Session) -> None:
        self.session = session

    def cap(self, population: str, *, lock: bool = False) -> Cap | None:
        """The population's cap; ``lock`` holds its row (PostgreSQL: FOR UPDATE) until the
        transaction ends, so releases that must see each other's charges (training
        rounds composed in RDP) run one at a time. SQLite has one writer at a time."""
        row = self.session.get(BudgetCap, population, with_for_update=lock or None)
        if row is None:
            return None
        return Cap(row.population, Period(row.period), row.epsilon, row.delta)

    def set_cap(self, cap: Cap) -> None:
        row = self.session.get(BudgetCap, cap.population) or BudgetCap(
            population=cap.population, period=cap.period.value, epsilon=0.0, delta=0.0
        )
        row.period = cap.period.value
        row.epsilon = cap.epsilon
        row.delta = cap.delta
        row.updated_at = utcnow()
        self.session.add(row)
        self.session.flush()

    def spent(self, population: str, period: str) -> tuple[float, float]:
        row = self.session.get(BudgetTotal, (population, period))
        return (row.epsilon, row.delta) if row is not None else (0.0, 0.0)

    def charge(self, charge: Charge, period: str, cap: Cap) -> tuple[float, float]:
        self._ensure_total(charge.population, period)
        total = core(BudgetTotal).c
        statement = (
            update(BudgetTotal)
            .where(
                col(BudgetTotal.population) == charge.population,
                col(BudgetTotal.period) == period,
                total.epsilon + charge.epsilon <= cap.epsilon,
                total.delta + charge.delta <= cap.delta,
            )
            .values(epsilon=total.epsilon + charge.epsilon, delta=total.delta + charge.delta)
            .returning(total.epsilon, total.delta)
            .execution_options(synchronize_session=False)
        )
        row = self.session.execute(statement).first()
        if row is None:
            epsilon, delta = self._fresh_spent(charge.population, period)
            raise exceeded(charge, period, cap, epsilon, delta)
        self.session.add(
            BudgetCharge(
                id=charge.charge_id,
                population=charge.population,
                period=period,
                epsilon=charge.epsilon,
                delta=charge.delta,
                accountant=charge.accountant,
                release=charge.release[:300],
                details=dict(charge.details),
                at=charge.at,
            )
        )
        self.session.flush()
        return float(row[0]), float(row[1])

    def charges(self, population: str, period: str | None = None) -> list[BudgetCharge]:
        query = select(BudgetCharge).where(BudgetCharge.population == population)
        if period is not None:
            query = query.where(BudgetCharge.period == period)
        return list(self.session.exec(query.order_by(col(BudgetCharge.at))))

    def _ensure_total(self, population: str, period: str) -> None:
        values: dict[str, Any] = {
            "population": population,
            "period": period,
            "epsilon": 0.0,
            "delta": 0.0,
        }
        dialect = self.session.get_bind().dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        self.session.execute(insert(BudgetTotal).values(**values).on_conflict_do_nothing())

    def _fresh_spent(self, population: str, period: str) -> tuple[float, float]:
        row = self.session.execute(
            select(BudgetTotal.epsilon, BudgetTotal.delta).where(
                BudgetTotal.population == population, BudgetTotal.period == period
            )
        ).first()
        return (float(row[0]), float(row[1])) if row is not None else (0.0, 0.0)
