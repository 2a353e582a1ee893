"""Tables of Shared Signals: one event stream per member, and the outbox of SETs.

The outbox row is written in the transaction of the change it announces, whether or
not the recipient has a stream yet; it is signed only when it is sent.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, CheckConstraint, Column, ForeignKey, Index, Integer, String
from sqlmodel import Field

from gateway.db import Table, UTCDateTime, utcnow


class StreamStatus(StrEnum):
    """SSF 1.0 §8.1.2: enabled transmits, paused holds, disabled neither sends nor holds."""

    enabled = "enabled"
    paused = "paused"
    disabled = "disabled"


class DeliveryState(StrEnum):
    pending = "pending"  # waiting: for a stream, its turn, or a retry
    delivered = "delivered"  # pushed and accepted (RFC 8935 §2.2), or handed out by a poll
    acknowledged = "acknowledged"  # acknowledged by a poll (RFC 8936 §2.4)
    dead = "dead"  # refused by the receiver, or out of attempts: never sent again
    not_requested = "not_requested"  # the stream does not take this event type


class EventStream(Table, table=True):
    """A receiver's stream configuration (SSF 1.0 §8.1.1).

    ``authorization_header`` is the receiver's own secret, which the gateway presents
    when it pushes to the receiver (SSF 1.0 §6.1.1). It must be readable to be sent,
    so it is stored as given; it is never returned by the API and never logged.
    """

    __tablename__ = "event_stream"
    __table_args__ = (
        CheckConstraint("status IN ('enabled', 'paused', 'disabled')", name="status"),
        CheckConstraint(
            "delivery_method IN ('urn:ietf:rfc:8935', 'urn:ietf:rfc:8936')", name="delivery_method"
        ),
    )

    id: str = Field(primary_key=True, max_length=36)  # the SSF stream_id
    member_id: str = Field(
        sa_column=Column(
            String(36), ForeignKey("member.id", ondelete="CASCADE"), nullable=False, unique=True
        )
    )
    aud: str = Field(max_length=64)  # the member's client_id
    events_requested: list[str] = Field(sa_column=Column(JSON, nullable=False))
    events_delivered: list[str] = Field(sa_column=Column(JSON, nullable=False))
    delivery_method: str = Field(max_length=32)
    endpoint_url: str = Field(max_length=2000)
    authorization_header: str | None = Field(default=None, max_length=2048)
    description: str | None = Field(default=None, max_length=300)
    status: str = Field(default=StreamStatus.enabled, max_length=16)
    status_reason: str | None = Field(default=None, max_length=300)
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
    updated_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )


class SecurityEvent(Table, table=True):
    """One SET for one recipient: the outbox row and its delivery record."""

    __tablename__ = "security_event"
    __table_args__ = (
        CheckConstraint(
            "state IN ('pending', 'delivered', 'acknowledged', 'dead', 'not_requested')",
            name="state",
        ),
        # The dispatcher's queue: each recipient's unfinished SETs, oldest first.
        Index("ix_security_event_queue", "recipient_id", "state", "id"),
    )

    id: int | None = Field(
        default=None,
        # Arrival order; BIGINT on PostgreSQL, INTEGER (the rowid) on SQLite.
        sa_column=Column(BigInteger().with_variant(Integer(), "sqlite"), primary_key=True),
    )
    jti: str = Field(max_length=64, unique=True)
    recipient_id: str = Field(
        sa_column=Column(String(36), ForeignKey("member.id", ondelete="CASCADE"), nullable=False)
    )
    event_type: str = Field(max_length=200)
    claims: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    state: str = Field(default=DeliveryState.pending, max_length=16)
    attempts: int = Field(default=0)
    next_attempt_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
    last_error: str | None = Field(default=None, max_length=200)  # short, never a secret
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
    delivered_at: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime(), nullable=True)
    )
