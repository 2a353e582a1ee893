"""The views' tables: the access log, the attributes platforms push, their merged
values, and pushed batches by idempotency key.

The access log has one row each time a member read something of a person.

The person sees it in the consent center (who read what, when, for which purpose) and
gets it in their export. It is the person's data: it goes with them on erasure
(ON DELETE CASCADE). It is also an audit trail of the members: an entry names its
reader by id without a foreign key, so it outlives the member (members are disabled,
not deleted), and writing 900 entries takes no lock on the reader's row. It names the
categories read as a subset of a stored category set (a digest and a mask): an entry
is some 200 bytes, not 900.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Float, ForeignKey, Index, Integer, String, Text
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
    reader: str = Field(  # the member that read (its id: no foreign key, see above)
        sa_column=Column(String(36), nullable=False, index=True)
    )
    purpose: str = Field(max_length=120)
    # The leaf categories read: the set they were chosen from, by digest (a
    # ``category_set``, for a view its purpose's necessary categories), and which of
    # them, as a mask in hexadecimal (``gateway.consents.category_sets.mask``).
    categories_digest: str = Field(sa_column=Column(String(64), nullable=False))
    categories_mask: str = Field(sa_column=Column(Text, nullable=False))
    what: str = Field(max_length=32)  # how it was read: "userinfo", "token_exchange", ...
    at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class Attribute(Table, table=True):
    """One platform's latest value of one leaf category for a person: the source the
    unified view merges, with the platform kept for provenance.

    Stored only while an in-force consent of the person makes the category necessary,
    and only until ``expires_at`` (the observation plus the longest retention of those
    purposes). ``num`` is the value read as a number where it has one (integers,
    floats, booleans as 0/1, timestamps as POSIX seconds), for merging and aggregates.
    """

    __tablename__ = "attribute"
    __table_args__ = (
        Index("ix_attribute_expires_at", "expires_at"),  # the purge job's scan
        Index("ix_attribute_platform", "platform_id", "person_id"),  # an unlink drops these
    )

    person_id: str = Field(
        sa_column=Column(String(36), ForeignKey("person.id", ondelete="CASCADE"), primary_key=True)
    )
    category: str = Field(sa_column=Column(String(120), primary_key=True))
    platform_id: str = Field(
        sa_column=Column(String(36), ForeignKey("member.id", ondelete="CASCADE"), primary_key=True)
    )
    value: Any = Field(sa_column=Column(JSON, nullable=False))
    num: float | None = Field(default=None, sa_column=Column(Float, nullable=True))
    observed_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    expires_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class MergedAttribute(Table, table=True):
    """The merged value of one category for a person (the unified view's value, without
    provenance), kept in step with :class:`Attribute` for the sandbox's aggregates: one
    row per person and category (a tag set has one row per tag, ``item`` = the tag), so
    each person contributes once by construction and SQL groups by plain columns."""

    __tablename__ = "merged_attribute"
    __table_args__ = (
        # The sandbox's read: one category's values for many persons, in person order,
        # from the index alone on PostgreSQL (INCLUDE: no visit to the table).
        Index(
            "ix_merged_attribute_category_person",
            "category",
            "person_id",
            postgresql_include=["text", "num"],
        ),
    )

    category: str = Field(sa_column=Column(String(120), primary_key=True))
    person_id: str = Field(
        sa_column=Column(String(36), ForeignKey("person.id", ondelete="CASCADE"), primary_key=True)
    )
    item: str = Field(default="", sa_column=Column(String(120), primary_key=True))
    num: float | None = Field(default=None, sa_column=Column(Float, nullable=True))
    text: str | None = Field(default=None, sa_column=Column(String(120), nullable=True))


class AttributeBatch(Table, table=True):
    """A pushed batch by its idempotency key: a retry with the same key and body gets
    the first answer again; the same key with another body is refused."""

    __tablename__ = "attribute_batch"

    platform_id: str = Field(
        sa_column=Column(String(36), ForeignKey("member.id", ondelete="CASCADE"), primary_key=True)
    )
    key: str = Field(sa_column=Column(String(255), primary_key=True))
    request_hash: str = Field(max_length=71)  # "sha256:" + 64 hex of the body
    status: int
    response: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    expires_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))


class ViewValue(Table, table=True):
    """One category of a person's unified view, ready to serve: the merged value, its
    rule and time, and each platform's own value (unless the category is sensitive), as
    the JSON text a view holds. Kept in step with :class:`Attribute` with the merged rows,
    so a view is read, never computed, at request time."""

    __tablename__ = "view_value"

    person_id: str = Field(
        sa_column=Column(String(36), ForeignKey("person.id", ondelete="CASCADE"), primary_key=True)
    )
    category: str = Field(sa_column=Column(String(120), primary_key=True))
    doc: str = Field(sa_column=Column(Text, nullable=False))
