"""The access log, and rights requests a person makes in the consent center (no member).

Revision ID: 20261124_12
Revises: 20261124_11
Create Date: 2026-11-24 23:45:19.418339
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261124_12"
down_revision: str | None = "20261124_11"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "access_log",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("person_id", sa.String(length=36), nullable=False),
        sa.Column("reader", sa.String(length=36), nullable=False),
        sa.Column("purpose", sa.String(length=120), nullable=False),
        sa.Column("categories", sa.JSON(), nullable=False),
        sa.Column("what", sa.String(length=32), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["person.id"],
            name=op.f("fk_access_log_person_id_person"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["reader"], ["member.id"], name=op.f("fk_access_log_reader_member"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_access_log")),
    )
    with op.batch_alter_table("access_log", schema=None) as batch_op:
        batch_op.create_index("ix_access_log_person", ["person_id", "at"], unique=False)
        batch_op.create_index(batch_op.f("ix_access_log_reader"), ["reader"], unique=False)

    with op.batch_alter_table("rights_request", schema=None) as batch_op:
        batch_op.alter_column("requested_by", existing_type=sa.VARCHAR(length=36), nullable=True)


def downgrade() -> None:
    # A request no member relayed cannot be kept under NOT NULL: it goes.
    op.execute(sa.text("DELETE FROM rights_request WHERE requested_by IS NULL"))
    with op.batch_alter_table("rights_request", schema=None) as batch_op:
        batch_op.alter_column("requested_by", existing_type=sa.VARCHAR(length=36), nullable=False)

    with op.batch_alter_table("access_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_access_log_reader"))
        batch_op.drop_index("ix_access_log_person")

    op.drop_table("access_log")
