"""The sandbox's table: every query a brand asked, what it was answered, and its charge.

A row is the query log (refused queries included) and, for a released answer, the
release itself: an identical query in the same budget period is answered from it
(see docs/sandbox.md, "Repeated queries").
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Float, ForeignKey, Index, String
from sqlmodel import Field

from gateway.db import Table, UTCDateTime


class SandboxQuery(Table, table=True):
    __tablename__ = "sandbox_query"
    __table_args__ = (
        # The cache's lookup: the brand's latest release of this query in this period.
        Index("ix_sandbox_query_release", "brand_id", "query_hash", "period", "outcome"),
        Index("ix_sandbox_query_brand_at", "brand_id", "at"),
    )

    id: str = Field(primary_key=True, max_length=36)
    brand_id: str = Field(
        sa_column=Column(String(36), ForeignKey("member.id", ondelete="CASCADE"), nullable=False)
    )
    query_hash: str = Field(max_length=71)  # "sha256:" + hex of the canonical query
    query: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    period: str = Field(max_length=16)  # the budget period the query fell in
    outcome: str = Field(max_length=16)  # released, cached, refused
    epsilon: float = Field(sa_column=Column(Float, nullable=False))  # ε charged (0 unless released)
    charge_id: str | None = Field(default=None, max_length=36)  # the ledger's charge
    release_id: str | None = Field(default=None, max_length=36)  # a cached answer's release
    result: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    detail: str | None = Field(default=None, max_length=300)  # why it was refused
    at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
