"""The change counter workers poll to know when what they remember went stale.

Revision ID: 20261125_01
Revises: 20261124_12
Create Date: 2026-11-25 01:13:45.364600
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261125_01"
down_revision: str | None = "20261124_12"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "change_stamp",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("generation", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_change_stamp")),
    )


def downgrade() -> None:
    op.drop_table("change_stamp")
