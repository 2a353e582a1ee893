"""ε spent, counted when the charge commits.

Every release of the sandbox and every training round is charged to the privacy-loss
ledger by one :class:`gateway.budget.models.BudgetCharge` row, written in the caller's
transaction. Counting here, on the sessions' commit, counts each charge once, whoever
wrote it, and never one whose transaction rolled back (a release refused after all).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import UOWTransaction
from sqlmodel import Session

from gateway.budget.models import BudgetCharge
from gateway.db import SessionFactory
from gateway.observability.metrics import Metrics

_PENDING = "accord.charges"  # Session.info key: charges flushed, not yet committed


def watch(sessions: SessionFactory, metrics: Metrics) -> None:
    """Count the ε of every charge committed by a session this factory makes."""

    def flushed(session: Session, _flush: UOWTransaction) -> None:
        charges = [obj for obj in session.new if isinstance(obj, BudgetCharge)]
        if charges:
            pending: list[tuple[str, float]] = session.info.setdefault(_PENDING, [])
            pending.extend((c.population, c.epsilon) for c in charges)

    def committed(session: Session) -> None:
        for population, epsilon in session.info.pop(_PENDING, ()):
            metrics.spent(population, epsilon)

    def rolled_back(session: Session, *_: Any) -> None:
        session.info.pop(_PENDING, None)

    event.listen(sessions, "after_flush", flushed)
    event.listen(sessions, "after_commit", committed)
    event.listen(sessions, "after_rollback", rolled_back)
