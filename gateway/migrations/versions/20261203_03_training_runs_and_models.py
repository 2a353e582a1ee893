"""Federated training at the gateway: runs, their rounds and samples, trained models.

A run's rounds are charged to the privacy-loss ledger (budget_charge) and drawn here;
each platform reads its own sampled accounts (training_pick); trained models and their
cards live in trained_model.

Revision ID: 20261203_03
Revises: 20261203_02
Create Date: 2026-12-03 22:25:43.969509
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261203_03"
down_revision: str | None = "20261203_02"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "training_run",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("purpose", sa.String(length=120), nullable=False),
        sa.Column("population", sa.String(length=200), nullable=False),
        sa.Column("platforms", sa.JSON(), nullable=False),
        sa.Column("sampling_rate", sa.Float(), nullable=False),
        sa.Column("clip_norm", sa.Float(), nullable=False),
        sa.Column("noise_multiplier", sa.Float(), nullable=False),
        sa.Column("placement", sa.String(length=16), nullable=False),
        sa.Column("max_rounds", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=300), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "placement IN ('central', 'distributed')", name=op.f("ck_training_run_placement")
        ),
        sa.CheckConstraint(
            "state IN ('running', 'finished', 'stopped', 'failed')",
            name=op.f("ck_training_run_state"),
        ),
        sa.CheckConstraint(
            "sampling_rate > 0 AND sampling_rate <= 1 AND clip_norm > 0 AND noise_multiplier > 0",
            name=op.f("ck_training_run_mechanism"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_training_run")),
    )
    with op.batch_alter_table("training_run", schema=None) as batch_op:
        batch_op.create_index("ix_training_run_population", ["population"], unique=False)

    op.create_table(
        "trained_model",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.String(length=36), nullable=False),
        sa.Column("card", sa.JSON(), nullable=False),
        sa.Column("weights", sa.LargeBinary(), nullable=False),
        sa.Column("weights_sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"], ["training_run.id"], name=op.f("fk_trained_model_run_id_training_run")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trained_model")),
        sa.UniqueConstraint("name", "version", name="uq_trained_model_version"),
    )
    with op.batch_alter_table("trained_model", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_trained_model_run_id"), ["run_id"], unique=False)

    op.create_table(
        "training_pick",
        sa.Column("run_id", sa.String(length=36), nullable=False),
        sa.Column("round", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("platform_id", sa.String(length=36), nullable=False),
        sa.Column("account_id", sa.String(length=200), nullable=False),
        sa.Column("share", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["training_run.id"],
            name=op.f("fk_training_pick_run_id_training_run"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "run_id", "round", "platform_id", "account_id", name=op.f("pk_training_pick")
        ),
    )
    op.create_table(
        "training_round",
        sa.Column("run_id", sa.String(length=36), nullable=False),
        sa.Column("round", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("population", sa.Integer(), nullable=False),
        sa.Column("period", sa.String(length=16), nullable=False),
        sa.Column("epsilon_charged", sa.Float(), nullable=False),
        sa.Column("epsilon_total", sa.Float(), nullable=False),
        sa.Column("delta", sa.Float(), nullable=False),
        sa.Column("charge_id", sa.String(length=36), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["training_run.id"],
            name=op.f("fk_training_round_run_id_training_run"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("run_id", "round", name=op.f("pk_training_round")),
    )


def downgrade() -> None:
    op.drop_table("training_round")
    op.drop_table("training_pick")
    with op.batch_alter_table("trained_model", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_trained_model_run_id"))

    op.drop_table("trained_model")
    with op.batch_alter_table("training_run", schema=None) as batch_op:
        batch_op.drop_index("ix_training_run_population")

    op.drop_table("training_run")
