"""privacy budget ledger

Revision ID: 20261124_02
Revises: 20261124_01
Create Date: 2026-11-24 17:47:57.870627
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261124_02"
down_revision: str | None = "20261124_01"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "budget_cap",
        sa.Column("population", sa.String(length=200), nullable=False),
        sa.Column("period", sa.String(length=16), nullable=False),
        sa.Column("epsilon", sa.Float(), nullable=False),
        sa.Column("delta", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("period IN ('month', 'total')", name=op.f("ck_budget_cap_period")),
        sa.CheckConstraint(
            "epsilon >= 0 AND delta >= 0 AND delta < 1", name=op.f("ck_budget_cap_amounts")
        ),
        sa.PrimaryKeyConstraint("population", name=op.f("pk_budget_cap")),
    )
    op.create_table(
        "budget_charge",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("population", sa.String(length=200), nullable=False),
        sa.Column("period", sa.String(length=16), nullable=False),
        sa.Column("epsilon", sa.Float(), nullable=False),
        sa.Column("delta", sa.Float(), nullable=False),
        sa.Column("accountant", sa.String(length=64), nullable=False),
        sa.Column("release", sa.String(length=300), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_budget_charge")),
    )
    with op.batch_alter_table("budget_charge", schema=None) as batch_op:
        batch_op.create_index(
            "ix_budget_charge_population_period", ["population", "period"], unique=False
        )

    op.create_table(
        "budget_total",
        sa.Column("population", sa.String(length=200), nullable=False),
        sa.Column("period", sa.String(length=16), nullable=False),
        sa.Column("epsilon", sa.Float(), nullable=False),
        sa.Column("delta", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("population", "period", name=op.f("pk_budget_total")),
    )


def downgrade() -> None:
    op.drop_table("budget_total")
    with op.batch_alter_table("budget_charge", schema=None) as batch_op:
        batch_op.drop_index("ix_budget_charge_population_period")

    op.drop_table("budget_charge")
    op.drop_table("budget_cap")
