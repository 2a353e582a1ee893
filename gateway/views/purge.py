"""The retention purge: values kept past their purpose's retention are deleted.

Run by the consent upkeep once a minute (and by ``accord attributes purge``). Values no
in-force consent needs any more go at once, when the consent ends (see
:func:`gateway.views.store.restrict`); this job removes the ones whose time ran out.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from consent.taxonomy import DataStandard
from gateway.views import store

BATCH = 5000


def purge_expired(
    standard: DataStandard, session: Session, now: datetime, limit: int = BATCH
) -> int:
    """Delete up to ``limit`` values past their retention; how many went."""
    due = store.expired(session, now, limit)
    store.remove(session, due)
    store.refresh_merged(standard, session, [(p, c) for p, c, _ in due])
    return len(due)
