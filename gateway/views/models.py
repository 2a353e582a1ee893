"""The access log's table: one row each time a member read something of a person.

The person sees it in the consent center (who read what, when, for which purpose) and
gets it in their export. It is the person's data: it goes with them on erasure
(ON DELETE CASCADE), and with the reader when a member is deleted.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Column, ForeignKey, Index, Integer, String
from sqlmodel import Field

from gateway.db import Table, UTCDateTime


class AccessEntry(Table, table=True):
    __tablename__ = "access_log"
    __table_args__ = (
        # The center's and the export's read: one person's entries, latest first.
        Index("ix_access_log_person", "person_id", "at"),
    )

    id: int | None = Field(
        default=None,
        # Arrival order; BIGINT on PostgreSQL, INTEGER (the rowid) on SQLite.
        sa_column=Column(BigInteger().with_variant(Integer(), "sqlite"), primary_key=True),
    )
    person_id: str = Field(
        sa_column=Column(String(36), ForeignKey("person.id", ondelete="CASCADE"), nullable=False)
    )
    reader: str = Field(  # the member that read
        sa_column=Column(
            String(36), ForeignKey("member.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    purpose: str = Field(max_length=120)
    categories: list[str] = Field(sa_column=Column(JSON, nullable=False))  # leaf keys read
    what: str = Field(max_length=32)  # how it was read: "userinfo", "token_exchange", ...
    at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
