"""The privacy-loss ledger's rules, on the in-process store."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest

from consent.budget import Cap, Charge, Ledger, MemoryBudgetStore, Period
from consent.errors import BudgetExceeded, ConsentError

NOV = datetime(2026, 11, 24, tzinfo=UTC)
DEC = datetime(2026, 12, 1, tzinfo=UTC)


def charge(epsilon: float, delta: float = 0.0, at: datetime = NOV) -> Charge:
    return Charge("brand:aurora", epsilon, delta, "laplace", "sandbox query", at)


def ledger(cap: Cap | None = None) -> Ledger:
    store = MemoryBudgetStore()
    store.set_cap(cap or Cap("brand:aurora", Period.month, epsilon=1.0, delta=1e-6))
    return Ledger(store)


def test_charges_add_up_to_the_cap_and_no_further() -> None:
    budget = ledger()
    assert budget.charge(charge(0.5)).epsilon == 0.5
    spent = budget.charge(charge(0.5, 1e-6))
    assert (spent.epsilon, spent.delta) == (1.0, 1e-6)
    assert spent.remaining_epsilon == 0.0
    with pytest.raises(BudgetExceeded) as caught:
        budget.charge(charge(1e-9))
    assert str(caught.value) == (
        "'brand:aurora' has ε 0 and δ 0 left for 2026-11; the release asks ε 1e-09, δ 0"
    )


def test_delta_is_capped_too() -> None:
    budget = ledger()
    with pytest.raises(BudgetExceeded, match="δ 1e-06 left"):
        budget.charge(charge(0.1, 2e-6))
    assert budget.spent("brand:aurora", NOV).epsilon == 0.0  # a refused charge costs nothing


def test_a_monthly_budget_renews_each_month() -> None:
    budget = ledger()
    budget.charge(charge(1.0))
    assert budget.charge(charge(1.0, at=DEC)).period == "2026-12"
    assert budget.spent("brand:aurora", NOV).epsilon == 1.0


def test_a_total_budget_never_renews() -> None:
    budget = ledger(Cap("brand:aurora", Period.total, epsilon=1.0, delta=0.0))
    budget.charge(charge(1.0))
    with pytest.raises(BudgetExceeded, match="left for total"):
        budget.charge(charge(0.1, at=DEC))


def test_no_cap_means_no_release() -> None:
    with pytest.raises(BudgetExceeded, match="no privacy budget is set for 'nobody'"):
        Ledger(MemoryBudgetStore()).charge(
            Charge("nobody", 0.1, 0.0, "laplace", "sandbox query", NOV)
        )


@pytest.mark.parametrize(
    ("epsilon", "delta"),
    [
        pytest.param(-0.1, 0.0, id="negative-epsilon"),
        pytest.param(math.inf, 0.0, id="infinite-epsilon"),
        pytest.param(math.nan, 0.0, id="nan-epsilon"),
        pytest.param(0.1, 1.0, id="delta-one"),
        pytest.param(0.1, -1e-9, id="negative-delta"),
    ],
)
def test_impossible_amounts_are_refused(epsilon: float, delta: float) -> None:
    with pytest.raises(ConsentError):
        charge(epsilon, delta)
    with pytest.raises(ConsentError):
        Cap("p", Period.month, epsilon, delta)


def test_a_charge_names_its_accountant_and_release() -> None:
    with pytest.raises(ConsentError, match="names its accountant"):
        Charge("brand:aurora", 0.1, 0.0, "", "sandbox query", NOV)
