"""consent log

Revision ID: 20261124_03
Revises: 20261124_02
Create Date: 2026-11-24 17:57:29.093788
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "20261124_03"
down_revision: str | None = "20261124_02"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "log_checkpoint",
        sa.Column("size", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("size", name=op.f("pk_log_checkpoint")),
    )
    op.create_table(
        "log_head",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_log_head")),
    )
    head = sa.table(
        "log_head",
        sa.column("id", sa.Integer),
        sa.column("size", sa.BigInteger),
        sa.column("updated_at", sa.DateTime(timezone=True)),
    )
    op.bulk_insert(head, [{"id": 1, "size": 0, "updated_at": datetime.now(UTC)}])
    op.create_table(
        "log_leaf",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("idx", sa.BigInteger(), nullable=True),
        sa.Column("commitment", sa.LargeBinary(length=32), nullable=False),
        sa.Column("queued_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_log_leaf")),
        sa.UniqueConstraint("idx", name=op.f("uq_log_leaf_idx")),
    )
    op.create_index(
        "ix_log_leaf_queued",
        "log_leaf",
        ["id"],
        postgresql_where=sa.text("idx IS NULL"),
        sqlite_where=sa.text("idx IS NULL"),
    )
    op.create_table(
        "log_node",
        sa.Column("level", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("idx", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("hash", sa.LargeBinary(length=32), nullable=False),
        sa.PrimaryKeyConstraint("level", "idx", name=op.f("pk_log_node")),
    )


def downgrade() -> None:
    op.drop_table("log_node")
    op.drop_index("ix_log_leaf_queued", table_name="log_leaf")
    op.drop_table("log_leaf")
    op.drop_table("log_head")
    op.drop_table("log_checkpoint")
