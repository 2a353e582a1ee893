"""Attributes, merged attributes, attribute batches by idempotency key, sandbox queries.

Revision ID: 20261125_02
Revises: 20261125_01
Create Date: 2026-11-25 03:49:24.069287
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261125_02"
down_revision: str | None = "20261125_01"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "attribute",
        sa.Column("person_id", sa.String(length=36), nullable=False),
        sa.Column("category", sa.String(length=120), nullable=False),
        sa.Column("platform_id", sa.String(length=36), nullable=False),
        sa.Column("value", sa.JSON(), nullable=False),
        sa.Column("num", sa.Float(), nullable=True),
        sa.Column("observed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["person.id"],
            name=op.f("fk_attribute_person_id_person"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["platform_id"],
            ["member.id"],
            name=op.f("fk_attribute_platform_id_member"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("person_id", "category", "platform_id", name=op.f("pk_attribute")),
    )
    with op.batch_alter_table("attribute", schema=None) as batch_op:
        batch_op.create_index("ix_attribute_expires_at", ["expires_at"], unique=False)
        batch_op.create_index("ix_attribute_platform", ["platform_id", "person_id"], unique=False)

    op.create_table(
        "attribute_batch",
        sa.Column("platform_id", sa.String(length=36), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("request_hash", sa.String(length=71), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("response", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["platform_id"],
            ["member.id"],
            name=op.f("fk_attribute_batch_platform_id_member"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("platform_id", "key", name=op.f("pk_attribute_batch")),
    )
    with op.batch_alter_table("attribute_batch", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_attribute_batch_expires_at"), ["expires_at"], unique=False
        )

    op.create_table(
        "merged_attribute",
        sa.Column("category", sa.String(length=120), nullable=False),
        sa.Column("person_id", sa.String(length=36), nullable=False),
        sa.Column("item", sa.String(length=120), nullable=False),
        sa.Column("num", sa.Float(), nullable=True),
        sa.Column("text", sa.String(length=120), nullable=True),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["person.id"],
            name=op.f("fk_merged_attribute_person_id_person"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("category", "person_id", "item", name=op.f("pk_merged_attribute")),
    )
    op.create_table(
        "sandbox_query",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("brand_id", sa.String(length=36), nullable=False),
        sa.Column("query_hash", sa.String(length=71), nullable=False),
        sa.Column("query", sa.JSON(), nullable=False),
        sa.Column("period", sa.String(length=16), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("epsilon", sa.Float(), nullable=False),
        sa.Column("charge_id", sa.String(length=36), nullable=True),
        sa.Column("release_id", sa.String(length=36), nullable=True),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("detail", sa.String(length=300), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["brand_id"],
            ["member.id"],
            name=op.f("fk_sandbox_query_brand_id_member"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sandbox_query")),
    )
    with op.batch_alter_table("sandbox_query", schema=None) as batch_op:
        batch_op.create_index("ix_sandbox_query_brand_at", ["brand_id", "at"], unique=False)
        batch_op.create_index(
            "ix_sandbox_query_release",
            ["brand_id", "query_hash", "period", "outcome"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("sandbox_query", schema=None) as batch_op:
        batch_op.drop_index("ix_sandbox_query_release")
        batch_op.drop_index("ix_sandbox_query_brand_at")

    op.drop_table("sandbox_query")
    op.drop_table("merged_attribute")
    with op.batch_alter_table("attribute_batch", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_attribute_batch_expires_at"))

    op.drop_table("attribute_batch")
    with op.batch_alter_table("attribute", schema=None) as batch_op:
        batch_op.drop_index("ix_attribute_platform")
        batch_op.drop_index("ix_attribute_expires_at")

    op.drop_table("attribute")
