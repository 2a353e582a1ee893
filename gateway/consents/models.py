"""Consent tables: notice versions, records, and their append-only events.

A record row holds the terms agreed (never changed) plus two projections of its
events, ``state`` and ``ends_at``, kept for queries such as "who consents to this
purpose now"; decisions always replay the events themselves.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field

from gateway.db import Table, UTCDateTime, utcnow


class NoticeVersion(Table, table=True):
    """One published version of a notice: the exact text a person is shown."""

    __tablename__ = "notice_version"

    notice_id: str = Field(primary_key=True, max_length=120)
    version: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))
    language: str = Field(max_length=16)
    text: str = Field(sa_column=Column(Text, nullable=False))
    text_hash: str = Field(max_length=71)  # "sha256:" + 64 hex
    published_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )


class CategorySet(Table, table=True):
    """One distinct set of categories that records name (``category_sets``)."""

    __tablename__ = "category_set"

    digest: str = Field(primary_key=True, max_length=64)  # sha256 hex of the canonical JSON
    categories: list[str] = Field(
        sa_column=Column(JSON().with_variant(JSONB(), "postgresql"), nullable=False)
    )


# What the eligibility test reads of a record besides its key columns: with these in
# the index (PostgreSQL's INCLUDE), "who consents to U for R now, covering these
# categories" is an index-only scan.
ELIGIBILITY_INCLUDE = (
    "person_id",
    "valid_from",
    "ends_at",
    "separate",
    "notice_id",
    "notice_version",
    "guardian_ref",
)


class ConsentRecordRow(Table, table=True):
    __tablename__ = "consent_record"
    __table_args__ = (
        # "Who consents to purpose U for recipient R now": eligibility lists.
        Index(
            "ix_consent_record_eligibility",
            "recipient_id",
            "purpose",
            "state",
            "categories_digest",
            postgresql_include=list(ELIGIBILITY_INCLUDE),
        ),
        Index("ix_consent_record_person_recipient", "person_id", "recipient_id"),
        Index("ix_consent_record_notice", "notice_id", "notice_version", "state"),
    )

    record_id: str = Field(primary_key=True, max_length=36)
    receipt_id: str = Field(max_length=36, unique=True)
    person_id: str = Field(
        sa_column=Column(String(36), ForeignKey("person.id", ondelete="CASCADE"), nullable=False)
    )
    recipient_id: str = Field(sa_column=Column(String(36), ForeignKey("member.id"), nullable=False))
    recipient_kind: str = Field(max_length=16)
    recipient_name: str = Field(max_length=120)
    recipient_contact: str = Field(max_length=254)
    purpose: str = Field(max_length=120)
    # The record's categories, stored once per distinct set (gateway.consents.category_sets).
    categories_digest: str = Field(
        sa_column=Column(String(64), ForeignKey("category_set.digest"), nullable=False)
    )
    lawful_basis: str = Field(max_length=32)
    consent_type: str = Field(max_length=16)
    separate: bool
    sensitive: bool
    guardian_ref: str | None = Field(default=None, max_length=255)
    notice_id: str = Field(max_length=120)
    notice_version: int
    notice_hash: str = Field(max_length=71)
    language: str = Field(max_length=16)
    jurisdiction: str = Field(max_length=16)
    storage_location: str = Field(max_length=64)
    retention_days: int
    withdrawal_method: str = Field(max_length=300)
    standard_version: str = Field(max_length=32)
    schema_version: str = Field(max_length=64)
    valid_from: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    valid_until: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    # Projections of the events (see the module docstring).
    state: str = Field(max_length=16)
    ends_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class ConsentEventRow(Table, table=True):
    __tablename__ = "consent_event"
    __table_args__ = (UniqueConstraint("record_id", "seq"),)

    event_id: str = Field(primary_key=True, max_length=36)
    record_id: str = Field(
        sa_column=Column(
            String(36), ForeignKey("consent_record.record_id", ondelete="CASCADE"), nullable=False
        )
    )
    seq: int
    type: str = Field(max_length=16)
    at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    actor: str = Field(max_length=16)
    method: str = Field(max_length=64)
    ip_hash: str | None = Field(default=None, max_length=80)
    user_agent: str | None = Field(default=None, max_length=300)
    valid_until: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime(), nullable=True)
    )
    reason: str | None = Field(default=None, max_length=300)
    principal: str = Field(max_length=64)  # the recipient's pairwise sub, as committed
    salt: bytes = Field(sa_column=Column(LargeBinary(32), nullable=False))
    leaf_id: int = Field(
        sa_column=Column(BigInteger, ForeignKey("log_leaf.id"), nullable=False, unique=True)
    )
