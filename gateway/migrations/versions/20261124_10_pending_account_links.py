"""Account links waiting for the person to confirm them (or the merge they would make).

Revision ID: 20261124_10
Revises: 20261124_09
Create Date: 2026-11-24 23:27:12.939665
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261124_10"
down_revision: str | None = "20261124_09"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "pending_link",
        sa.Column("id", sa.String(length=80), nullable=False),
        sa.Column("person_id", sa.String(length=36), nullable=False),
        sa.Column("session_id", sa.String(length=80), nullable=False),
        sa.Column("browser_hash", sa.String(length=80), nullable=False),
        sa.Column("platform_id", sa.String(length=36), nullable=False),
        sa.Column("account_id", sa.String(length=255), nullable=False),
        sa.Column("other_person_id", sa.String(length=36), nullable=True),
        sa.Column("identifiers", sa.JSON(), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["other_person_id"],
            ["person.id"],
            name=op.f("fk_pending_link_other_person_id_person"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["person.id"],
            name=op.f("fk_pending_link_person_id_person"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["platform_id"],
            ["member.id"],
            name=op.f("fk_pending_link_platform_id_member"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pending_link")),
    )
    with op.batch_alter_table("pending_link", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_pending_link_expires_at"), ["expires_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("pending_link", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pending_link_expires_at"))

    op.drop_table("pending_link")
