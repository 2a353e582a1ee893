"""Identity tables: a person, the platform accounts linked to them, and the pairwise
subjects issued for them. Only the gateway knows ``person.id``."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, ForeignKey, String, UniqueConstraint
from sqlmodel import Field

from gateway.db import Table, UTCDateTime, utcnow


class Person(Table, table=True):
    __tablename__ = "person"

    id: str = Field(primary_key=True, max_length=36)
    # Asserted by a platform that knows the person's age (PIPL Art. 31).
    minor_under_14: bool = Field(default=False)
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False, default=utcnow)
    )


class PlatformAccount(Table, table=True):
    """One platform's account of a person: ``(platform, account id)`` is unique."""

    __tablename__ = "platform_account"

    platform_id: str = Field(
        sa_column=Column(String(36), ForeignKey("member.id", ondelete="CASCADE"), primary_key=True)
    )
    account_id: str = Field(primary_key=True, max_length=255)
    person_id: str = Field(
        sa_column=Column(
            String(36), ForeignKey("person.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    linked_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False, default=utcnow)
    )


class PairwiseSubject(Table, table=True):
    """A ``sub`` issued for a person in a sector, so a member's ``sub`` can be resolved."""

    __tablename__ = "pairwise_subject"
    __table_args__ = (UniqueConstraint("sector", "person_id"),)

    sector: str = Field(primary_key=True, max_length=253)
    sub: str = Field(primary_key=True, max_length=64)
    person_id: str = Field(
        sa_column=Column(
            String(36), ForeignKey("person.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
