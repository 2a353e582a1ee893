"""login challenges

Revision ID: 20261124_07
Revises: 20261124_06
Create Date: 2026-11-24 20:03:21.078299
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261124_07"
down_revision: str | None = "20261124_06"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "login_challenge",
        sa.Column("id", sa.String(length=80), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("platform_id", sa.String(length=36), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=True),
        sa.Column("browser_hash", sa.String(length=80), nullable=False),
        sa.Column("verifier_hash", sa.String(length=80), nullable=True),
        sa.Column("context", sa.JSON(), nullable=False),
        sa.Column("account_id", sa.String(length=255), nullable=True),
        sa.Column("acr", sa.String(length=64), nullable=True),
        sa.Column("amr", sa.JSON(), nullable=True),
        sa.Column("identifiers", sa.JSON(), nullable=True),
        sa.Column("error", sa.String(length=64), nullable=True),
        sa.Column("error_description", sa.String(length=300), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("kind IN ('login', 'link')", name=op.f("ck_login_challenge_kind")),
        sa.CheckConstraint(
            "state IN ('pending', 'accepted', 'rejected', 'completed')",
            name=op.f("ck_login_challenge_state"),
        ),
        sa.ForeignKeyConstraint(
            ["platform_id"],
            ["member.id"],
            name=op.f("fk_login_challenge_platform_id_member"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_challenge")),
        sa.UniqueConstraint("verifier_hash", name=op.f("uq_login_challenge_verifier_hash")),
    )
    with op.batch_alter_table("login_challenge", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_login_challenge_expires_at"), ["expires_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_login_challenge_platform_id"), ["platform_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("login_challenge", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_login_challenge_platform_id"))
        batch_op.drop_index(batch_op.f("ix_login_challenge_expires_at"))

    op.drop_table("login_challenge")
