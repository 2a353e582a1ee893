"""Budget tables: a cap per population, a running total per period, every charge."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Column, Float, Index
from sqlmodel import Field

from gateway.db import Table, UTCDateTime, utcnow


class BudgetCap(Table, table=True):
    __tablename__ = "budget_cap"
    __table_args__ = (
        CheckConstraint("epsilon >= 0 AND delta >= 0 AND delta < 1", name="amounts"),
        CheckConstraint("period IN ('month', 'total')", name="period"),
    )

    population: str = Field(primary_key=True, max_length=200)
    period: str = Field(max_length=16)
    epsilon: float = Field(sa_column=Column(Float, nullable=False))
    delta: float = Field(sa_column=Column(Float, nullable=False))
    updated_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )


class BudgetTotal(Table, table=True):
    """The running total per population and period: updated only by a conditional
    UPDATE that refuses to pass the cap, which makes the check and the charge atomic."""

    __tablename__ = "budget_total"

    population: str = Field(primary_key=True, max_length=200)
    period: str = Field(primary_key=True, max_length=16)
    epsilon: float = Field(default=0.0, sa_column=Column(Float, nullable=False))
    delta: float = Field(default=0.0, sa_column=Column(Float, nullable=False))


class BudgetCharge(Table, table=True):
    __tablename__ = "budget_charge"
    __table_args__ = (Index("ix_budget_charge_population_period", "population", "period"),)

    id: str = Field(primary_key=True, max_length=36)
    population: str = Field(max_length=200)
    period: str = Field(max_length=16)
    epsilon: float = Field(sa_column=Column(Float, nullable=False))
    delta: float = Field(sa_column=Column(Float, nullable=False))
    accountant: str = Field(max_length=64)
    release: str = Field(max_length=300)
    details: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
