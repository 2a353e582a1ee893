"""Consent asks (each consent screen shown, and its answer); consent events by type and time.

Revision ID: 20261125_03
Revises: 20261125_02
Create Date: 2026-11-25 03:56:43.798106
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261125_03"
down_revision: str | None = "20261125_02"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "consent_ask",
        sa.Column("id", sa.String(length=80), nullable=False),
        sa.Column("member_id", sa.String(length=36), nullable=False),
        sa.Column("asked", sa.Integer(), nullable=False),
        sa.Column("given", sa.Integer(), nullable=False),
        sa.Column("answer", sa.String(length=16), nullable=True),
        sa.Column("shown_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("answer IN ('given', 'refused')", name=op.f("ck_consent_ask_answer")),
        sa.CheckConstraint(
            "asked >= 0 AND given >= 0 AND given <= asked", name=op.f("ck_consent_ask_counts")
        ),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["member.id"],
            name=op.f("fk_consent_ask_member_id_member"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consent_ask")),
    )
    with op.batch_alter_table("consent_ask", schema=None) as batch_op:
        batch_op.create_index("ix_consent_ask_shown_at", ["shown_at"], unique=False)

    with op.batch_alter_table("consent_event", schema=None) as batch_op:
        batch_op.create_index(
            "ix_consent_event_type_at_method", ["type", "at", "method"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("consent_event", schema=None) as batch_op:
        batch_op.drop_index("ix_consent_event_type_at_method")

    with op.batch_alter_table("consent_ask", schema=None) as batch_op:
        batch_op.drop_index("ix_consent_ask_shown_at")

    op.drop_table("consent_ask")
