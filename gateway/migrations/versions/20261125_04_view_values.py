"""A person's unified view per category, ready to serve (view_value).

Revision ID: 20261125_04
Revises: 20261125_03
Create Date: 2026-11-25 04:33:13.416382
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261125_04"
down_revision: str | None = "20261125_03"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "view_value",
        sa.Column("person_id", sa.String(length=36), nullable=False),
        sa.Column("category", sa.String(length=120), nullable=False),
        sa.Column("doc", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["person.id"],
            name=op.f("fk_view_value_person_id_person"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("person_id", "category", name=op.f("pk_view_value")),
    )


def downgrade() -> None:
    op.drop_table("view_value")
