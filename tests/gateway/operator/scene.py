"""A small alliance with exactly known KPIs, written straight into the tables.

Platforms A (Redleaf) and B (Bluefin) and brands A and B come from the gateway tests'
alliance (tests/gateway/alliance.py). Relative to ``now``:

- persons: P1 {A, B}, P2 {A}, P3 {A, B}, P4 {A}, P5 {A, A (a second account)}
  → 5 persons, 3 with two or more accounts;
- attributes: P1 beauty from A and B; P2 beauty and device type from A; P3 device type
  from B; P4 city tier from A → 4 persons, 1 across platforms; 3 categories, 2 across;
- rights requests: completed on time 2 days ago, completed 5 days late 5 days ago,
  completed on time 75 days ago, open and 5 days overdue, open and due in 29 days,
  refused yesterday → in 30 days: 2 completed, 1 on time, 1 open overdue;
- ε: brand A has a monthly cap of 5 and spent 1 + 0.25 this month (4 more in an earlier
  month, not counted); brand B has no cap.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import insert
from sqlmodel import Session

from consent.budget import Cap, Charge, Ledger, Period
from gateway.budget.models import BudgetTotal
from gateway.budget.store import SqlBudgetStore
from gateway.db import core
from gateway.identity.models import Person, PlatformAccount
from gateway.rights.models import RightsRequestRow
from gateway.views.models import Attribute
from tests.gateway.alliance import Alliance

BEAUTY, DEVICE, CITY = "user.interest.beauty", "user.device.type", "user.demographic.city_tier"
DAY = timedelta(days=1)
MONTHLY_CAP = 5.0


def person_id(n: int) -> str:
    """P1 … P5, spread over the id space as random UUIDs are: "1…", "4…", "8…", "b…", "e…"."""
    return f"{'148be'[n - 1]}0000000-0000-4000-8000-{n:012d}"


def seed(session: Session, alliance: Alliance, now: datetime) -> None:
    a, b = alliance.platform["id"], alliance.keyed_platform["id"]
    session.execute(
        insert(core(Person)),
        [{"id": person_id(n), "minor_under_14": False, "created_at": now} for n in range(1, 6)],
    )
    accounts = [(1, a, "p1-a"), (1, b, "p1-b"), (2, a, "p2-a"), (3, a, "p3-a"), (3, b, "p3-b")]
    accounts += [(4, a, "p4-a"), (5, a, "p5-a"), (5, a, "p5-a2")]
    session.execute(
        insert(core(PlatformAccount)),
        [
            {"platform_id": p, "account_id": acc, "person_id": person_id(n), "linked_at": now}
            for n, p, acc in accounts
        ],
    )
    attributes = [(1, BEAUTY, a), (1, BEAUTY, b), (2, BEAUTY, a), (2, DEVICE, a)]
    attributes += [(3, DEVICE, b), (4, CITY, a)]
    session.execute(
        insert(core(Attribute)),
        [
            {
                "person_id": person_id(n),
                "category": category,
                "platform_id": p,
                "value": 1,
                "num": 1.0,
                "observed_at": now,
                "expires_at": now + 365 * DAY,
            }
            for n, category, p in attributes
        ],
    )
    # (state, received days ago, completed days ago); each is due 30 days after receipt.
    requests = [
        ("completed", 10, 2),
        ("completed", 40, 5),
        ("completed", 100, 75),
        ("received", 35, None),
        ("received", 1, None),
        ("refused", 3, 1),
    ]
    session.execute(
        insert(core(RightsRequestRow)),
        [
            {
                "id": f"request-{n}",
                "person_id": person_id(1),
                "kind": "export",
                "state": state,
                "received_at": now - received * DAY,
                "due_at": now - received * DAY + 30 * DAY,
                "completed_at": None if done is None else now - done * DAY,
                "reason": "not verifiable" if state == "refused" else None,
            }
            for n, (state, received, done) in enumerate(requests)
        ],
    )
    population = "brand:" + alliance.brand_a["id"]
    ledger = Ledger(SqlBudgetStore(session))
    ledger.store.set_cap(Cap(population, Period.month, MONTHLY_CAP, 1e-5))
    for epsilon in (1.0, 0.25):
        ledger.charge(Charge(population, epsilon, 0.0, "laplace", "scene query", now))
    earlier = (now.replace(day=1) - DAY).strftime("%Y-%m")
    session.add(BudgetTotal(population=population, period=earlier, epsilon=4.0, delta=0.0))
    session.flush()
