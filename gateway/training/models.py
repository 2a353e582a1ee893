"""Training tables: runs, their rounds and sampled accounts, and the trained models.

A round is planned once (``training_round`` has one row per run and number): a retried
round takes the next number and a new charge, so no sample is ever drawn twice with
the same draws (docs/federation.md, "Rounds").
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
)
from sqlmodel import Field

from gateway.db import Table, UTCDateTime, utcnow


class TrainingRun(Table, table=True):
    __tablename__ = "training_run"
    __table_args__ = (
        CheckConstraint("state IN ('running', 'finished', 'stopped', 'failed')", name="state"),
        CheckConstraint("placement IN ('central', 'distributed')", name="placement"),
        CheckConstraint(
            "sampling_rate > 0 AND sampling_rate <= 1 AND clip_norm > 0 AND noise_multiplier > 0",
            name="mechanism",
        ),
        Index("ix_training_run_population", "population"),
    )

    id: str = Field(primary_key=True, max_length=36)
    name: str = Field(max_length=120)
    purpose: str = Field(max_length=120)
    population: str = Field(max_length=200)  # the ledger's population it charges
    platforms: list[str] = Field(sa_column=Column(JSON, nullable=False))  # member ids, in order
    sampling_rate: float = Field(sa_column=Column(Float, nullable=False))
    clip_norm: float = Field(sa_column=Column(Float, nullable=False))
    noise_multiplier: float = Field(sa_column=Column(Float, nullable=False))
    placement: str = Field(max_length=16)
    max_rounds: int = Field(sa_column=Column(Integer, nullable=False))
    state: str = Field(default="running", max_length=16)
    reason: str | None = Field(default=None, max_length=300)  # why it stopped or failed
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
    ended_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))


class TrainingRound(Table, table=True):
    __tablename__ = "training_round"

    run_id: str = Field(
        sa_column=Column(
            String(36), ForeignKey("training_run.id", ondelete="CASCADE"), primary_key=True
        )
    )
    round: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))
    population: int = Field(sa_column=Column(Integer, nullable=False))  # N consenting
    period: str = Field(max_length=16)  # the ledger period the charge fell in
    epsilon_charged: float = Field(sa_column=Column(Float, nullable=False))
    epsilon_total: float = Field(sa_column=Column(Float, nullable=False))  # population, after
    delta: float = Field(sa_column=Column(Float, nullable=False))
    charge_id: str = Field(max_length=36)
    at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class TrainingPick(Table, table=True):
    """One sampled person's account on one platform, and its share of the clipping norm."""

    __tablename__ = "training_pick"

    run_id: str = Field(
        sa_column=Column(
            String(36), ForeignKey("training_run.id", ondelete="CASCADE"), primary_key=True
        )
    )
    round: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))
    platform_id: str = Field(sa_column=Column(String(36), primary_key=True))
    account_id: str = Field(sa_column=Column(String(200), primary_key=True))
    share: float = Field(sa_column=Column(Float, nullable=False))


class TrainedModel(Table, table=True):
    __tablename__ = "trained_model"
    __table_args__ = (UniqueConstraint("name", "version", name="uq_trained_model_version"),)

    id: str = Field(primary_key=True, max_length=36)
    name: str = Field(max_length=120)
    version: int = Field(sa_column=Column(Integer, nullable=False))
    run_id: str = Field(
        sa_column=Column(String(36), ForeignKey("training_run.id"), nullable=False, index=True)
    )
    card: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    weights: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    weights_sha256: str = Field(max_length=64)
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
