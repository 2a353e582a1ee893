"""Link hints: the alliance salt's versions and the salted identifier hashes platforms send.

Revision ID: 20261124_11
Revises: 20261124_10
Create Date: 2026-11-24 23:42:39.636542
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261124_11"
down_revision: str | None = "20261124_10"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "alliance_salt",
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("salt", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("superseded_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("version", name=op.f("pk_alliance_salt")),
    )
    op.create_table(
        "account_identifier",
        sa.Column("platform_id", sa.String(length=36), nullable=False),
        sa.Column("account_id", sa.String(length=255), nullable=False),
        sa.Column("type", sa.String(length=8), nullable=False),
        sa.Column("salt_version", sa.Integer(), nullable=False),
        sa.Column("hash", sa.String(length=43), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("type IN ('phone', 'email')", name=op.f("ck_account_identifier_type")),
        sa.ForeignKeyConstraint(
            ["platform_id", "account_id"],
            ["platform_account.platform_id", "platform_account.account_id"],
            name=op.f("fk_account_identifier_platform_id_platform_account"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "platform_id", "account_id", "type", "salt_version", name=op.f("pk_account_identifier")
        ),
    )
    with op.batch_alter_table("account_identifier", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_account_identifier_hash"), ["hash"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("account_identifier", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_account_identifier_hash"))

    op.drop_table("account_identifier")
    op.drop_table("alliance_salt")
