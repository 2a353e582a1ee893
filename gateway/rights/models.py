"""The table of data-subject requests (PIPL Arts. 45, 47; GDPR Arts. 15, 17, 20).

A request outlives the data it is about: erasing the person sets ``person_id`` to
NULL and clears ``account_id`` and any stored export, while the request's kind,
dates and state stay, so the member that relayed it can still show its status and
the operator can prove it was answered in time (GDPR Art. 5(2), accountability).

A platform relays a request for its user (``requested_by`` names it); a person may also
ask in the consent center, signed in, and then ``requested_by`` is NULL.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Column, ForeignKey, Index, String
from sqlmodel import Field

from gateway.db import Table, UTCDateTime


class RightsRequestRow(Table, table=True):
    __tablename__ = "rights_request"
    __table_args__ = (
        CheckConstraint("kind IN ('export', 'erasure')", name="kind"),
        CheckConstraint("state IN ('received', 'completed', 'refused')", name="state"),
        # The processing queue and the operator's list: open requests by deadline.
        Index("ix_rights_request_queue", "state", "received_at"),
    )

    id: str = Field(primary_key=True, max_length=36)
    person_id: str | None = Field(
        default=None,
        sa_column=Column(
            String(36), ForeignKey("person.id", ondelete="SET NULL"), nullable=True, index=True
        ),
    )
    # The member that relayed the request; NULL when the person asked in the consent center.
    requested_by: str | None = Field(
        default=None,
        sa_column=Column(String(36), ForeignKey("member.id"), nullable=True, index=True),
    )
    account_id: str | None = Field(default=None, max_length=255)  # at ``requested_by``
    kind: str = Field(max_length=16)
    state: str = Field(max_length=16)
    received_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    due_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    completed_at: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime(), nullable=True)
    )
    reason: str | None = Field(default=None, max_length=500)
    # The finished export: the person's own data, served to the member that relayed the
    # request and to the person in the consent center.
    export: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
