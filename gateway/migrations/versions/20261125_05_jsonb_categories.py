"""Consent categories as JSONB on PostgreSQL; a covering index for the sandbox.

The sandbox tests whether a consent record covers a query's categories (``@>``) for
every record of a brand: stored as JSONB, the test reads the binary form instead of
parsing the text per row. ``ix_merged_attribute_category_person`` lets it read one
category's values for many persons from the index alone (INCLUDE on PostgreSQL).

Revision ID: 20261125_05
Revises: 20261125_04
Create Date: 2026-11-25 07:32:39.465731
"""

from collections.abc import Sequence

from alembic import op

revision: str = "20261125_05"
down_revision: str | None = "20261125_04"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _postgres() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade() -> None:
    if _postgres():
        op.execute(
            "ALTER TABLE consent_record ALTER COLUMN categories TYPE JSONB USING categories::jsonb"
        )
    with op.batch_alter_table("merged_attribute", schema=None) as batch_op:
        batch_op.create_index(
            "ix_merged_attribute_category_person",
            ["category", "person_id"],
            unique=False,
            postgresql_include=["text", "num"],
        )


def downgrade() -> None:
    with op.batch_alter_table("merged_attribute", schema=None) as batch_op:
        batch_op.drop_index("ix_merged_attribute_category_person")
    if _postgres():
        op.execute(
            "ALTER TABLE consent_record ALTER COLUMN categories TYPE JSON USING categories::json"
        )
