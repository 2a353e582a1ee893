"""A partial index of the persons who are minors.

The sandbox's eligibility excludes minors without a guardian's reference from hundreds
of thousands of records at once; against this index (a few rows) that is an anti-join
costing nothing, instead of a scan of every person.

Revision ID: 20261203_02
Revises: 20261203_01
Create Date: 2026-12-03 20:15:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261203_02"
down_revision: str | None = "20261203_01"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("person", schema=None) as batch_op:
        batch_op.create_index(
            "ix_person_minor",
            ["id"],
            unique=False,
            postgresql_where=sa.text("minor_under_14"),
            sqlite_where=sa.text("minor_under_14"),
        )


def downgrade() -> None:
    with op.batch_alter_table("person", schema=None) as batch_op:
        batch_op.drop_index("ix_person_minor")
