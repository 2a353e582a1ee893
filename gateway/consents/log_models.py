"""Tables of the consent log: queued and sequenced leaves, perfect-subtree nodes, the
head, and signed checkpoints. Nodes, leaves and checkpoints are insert-only."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, Index, Integer, LargeBinary, SmallInteger, Text, text
from sqlmodel import Field

from gateway.db import Table, UTCDateTime, utcnow


class LogHead(Table, table=True):
    """One row: the sequenced size. Sequencers serialise on it (an UPDATE first)."""

    __tablename__ = "log_head"

    id: int = Field(default=1, sa_column=Column(Integer, primary_key=True))
    size: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    updated_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )


class LogLeaf(Table, table=True):
    """A commitment, queued by a consent write and given its index by the sequencer."""

    __tablename__ = "log_leaf"
    __table_args__ = (
        # The sequencer's queue: leaves still waiting for an index, in arrival order.
        Index(
            "ix_log_leaf_queued",
            "id",
            postgresql_where=text("idx IS NULL"),
            sqlite_where=text("idx IS NULL"),
        ),
    )

    id: int | None = Field(
        default=None,
        # BIGINT on PostgreSQL; SQLite's rowid needs the INTEGER spelling to autoincrement.
        sa_column=Column(BigInteger().with_variant(Integer(), "sqlite"), primary_key=True),
    )
    idx: int | None = Field(default=None, sa_column=Column(BigInteger, unique=True))
    commitment: bytes = Field(sa_column=Column(LargeBinary(32), nullable=False))
    queued_at: datetime = Field(
        # A Core-level default too: the sequencer and bulk loads insert without the ORM.
        default_factory=utcnow,
        sa_column=Column(UTCDateTime(), nullable=False, default=utcnow),
    )


class LogNode(Table, table=True):
    """The hash of the perfect subtree over leaves [idx * 2**level, (idx + 1) * 2**level)."""

    __tablename__ = "log_node"

    level: int = Field(sa_column=Column(SmallInteger, primary_key=True, autoincrement=False))
    idx: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    hash: bytes = Field(sa_column=Column(LargeBinary(32), nullable=False))


class LogCheckpoint(Table, table=True):
    __tablename__ = "log_checkpoint"

    size: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    note: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
