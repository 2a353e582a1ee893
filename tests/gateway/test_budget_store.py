"""The ledger in SQL: atomic under concurrency on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from consent.budget import Cap, Charge, Ledger, Period
from consent.errors import BudgetExceeded
from gateway.budget.store import SqlBudgetStore
from gateway.db import session_factory, transaction

NOW = datetime(2026, 11, 24, 12, tzinfo=UTC)
POPULATION = "training:profile_model"


def _set_cap(engine: Engine, epsilon: float, delta: float = 1e-4) -> None:
    with transaction(session_factory(engine)) as session:
        SqlBudgetStore(session).set_cap(Cap(POPULATION, Period.month, epsilon, delta))


def _charge(epsilon: float, release: str) -> Charge:
    return Charge(POPULATION, epsilon, 1e-6, "rdp", release, NOW, {"orders": [2, 4, 8]})


def test_the_cap_holds_under_50_concurrent_charges(engine: Engine) -> None:
    # 0.125 is exact in binary: 16 charges reach 2.0 exactly, a 17th would pass it.
    _set_cap(engine, epsilon=2.0)
    sessions = session_factory(engine)
    start = threading.Barrier(50)
    outcomes: list[str] = []
    lock = threading.Lock()

    def release(number: int) -> None:
        start.wait()
        try:
            with transaction(sessions) as session:
                Ledger(SqlBudgetStore(session)).charge(_charge(0.125, f"round {number}"))
            outcome = "charged"
        except BudgetExceeded:
            outcome = "refused"
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=release, args=(n,)) for n in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(outcomes) == 50
    assert outcomes.count("charged") == 16
    assert outcomes.count("refused") == 34
    with Session(engine) as session:
        store = SqlBudgetStore(session)
        epsilon, delta = store.spent(POPULATION, "2026-11")
        assert epsilon == 2.0
        assert delta == pytest.approx(16e-6)
        charges = store.charges(POPULATION, "2026-11")
        assert len(charges) == 16
        assert sum(c.epsilon for c in charges) == 2.0
        assert charges[0].details == {"orders": [2, 4, 8]}


def test_a_refused_charge_writes_nothing(engine: Engine) -> None:
    _set_cap(engine, epsilon=0.5)
    sessions = session_factory(engine)
    with (
        pytest.raises(BudgetExceeded, match=r"has ε 0\.5 and δ 0\.0001 left for 2026-11"),
        transaction(sessions) as session,
    ):
        Ledger(SqlBudgetStore(session)).charge(_charge(0.75, "too big"))
    with Session(engine) as session:
        assert SqlBudgetStore(session).charges(POPULATION) == []


def test_caps_can_be_changed_and_read_back(engine: Engine) -> None:
    _set_cap(engine, epsilon=1.0)
    _set_cap(engine, epsilon=3.0, delta=1e-5)
    with Session(engine) as session:
        assert SqlBudgetStore(session).cap(POPULATION) == Cap(POPULATION, Period.month, 3.0, 1e-5)
        assert SqlBudgetStore(session).cap("unknown") is None
