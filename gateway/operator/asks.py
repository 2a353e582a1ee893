"""Consent asks: each consent screen the gateway showed, and the person's answer.

The authorisation rate (``docs/kpis.md``) needs what a consent record cannot hold: the
asks that were refused or left unanswered. One row per screen shown at ``/authorize``,
keyed by the interaction it was shown in; ``asked`` counts the purposes on it that were
not in force (the consents it asks for), ``given`` the consents the answer recorded.

No row names the person: the table holds counts, not personal data, so it stays out of
exports and erasure. Only the first answer to a screen counts (a form posted twice).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, Column, ForeignKey, Index, String, case, update
from sqlmodel import Field, Session

from gateway.consents.models import ConsentEventRow
from gateway.db import Table, UTCDateTime, core, insert_new


class Answer(StrEnum):
    given = "given"  # the person approved (optional items may still be left out)
    refused = "refused"  # the person refused the whole screen


class ConsentAsk(Table, table=True):
    __tablename__ = "consent_ask"
    __table_args__ = (
        CheckConstraint("answer IN ('given', 'refused')", name="answer"),
        CheckConstraint("asked >= 0 AND given >= 0 AND given <= asked", name="counts"),
        Index("ix_consent_ask_shown_at", "shown_at"),  # the KPI window
    )

    id: str = Field(primary_key=True, max_length=80)  # the interaction's id when shown
    member_id: str = Field(  # the client that asked
        sa_column=Column(String(36), ForeignKey("member.id", ondelete="CASCADE"), nullable=False)
    )
    asked: int
    given: int = 0
    answer: str | None = Field(default=None, max_length=16)  # NULL until answered
    shown_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    answered_at: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime(), nullable=True)
    )


ASK = core(ConsentAsk)

# The KPIs' windowed consent counts (gateway/operator/kpis.py) read one range of this
# index per event type, and from the index alone (the method tells who recorded a
# consent), instead of every event ever recorded. Declared with the operator's table so
# the metadata (and the drift check) knows it; migration 20261125_03 creates it.
EVENT = core(ConsentEventRow)
Index("ix_consent_event_type_at_method", EVENT.c.type, EVENT.c.at, EVENT.c.method)


def shown(session: Session, interaction_id: str, member_id: str, asked: int, at: datetime) -> None:
    """A consent screen was shown, asking for ``asked`` consents."""
    insert_new(
        session,
        ASK,
        {"id": interaction_id, "member_id": member_id, "asked": asked, "shown_at": at},
    )


def answered(
    session: Session, interaction_id: str, answer: Answer, given: int, at: datetime
) -> None:
    """The person answered the screen; ``given`` consents were recorded from it."""
    session.execute(
        update(ASK)
        .where(ASK.c.id == interaction_id, ASK.c.answer.is_(None))
        # Never more than the screen asked for (a consent withdrawn meanwhile is asked again).
        .values(
            answer=answer.value,
            given=case((ASK.c.asked < given, ASK.c.asked), else_=given),
            answered_at=at,
        )
    )
