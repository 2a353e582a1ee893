"""rights requests

Revision ID: 20261124_06
Revises: 20261124_05
Create Date: 2026-11-24 19:02:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261124_06"
down_revision: str | None = "20261124_05"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "rights_request",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("person_id", sa.String(length=36), nullable=True),
        sa.Column("requested_by", sa.String(length=36), nullable=False),
        sa.Column("account_id", sa.String(length=255), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.Column("export", sa.JSON(), nullable=True),
        sa.CheckConstraint("kind IN ('export', 'erasure')", name=op.f("ck_rights_request_kind")),
        sa.CheckConstraint(
            "state IN ('received', 'completed', 'refused')", name=op.f("ck_rights_request_state")
        ),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["person.id"],
            name=op.f("fk_rights_request_person_id_person"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["requested_by"], ["member.id"], name=op.f("fk_rights_request_requested_by_member")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rights_request")),
    )
    with op.batch_alter_table("rights_request", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_rights_request_person_id"), ["person_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_rights_request_requested_by"), ["requested_by"], unique=False
        )
        batch_op.create_index("ix_rights_request_queue", ["state", "received_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("rights_request", schema=None) as batch_op:
        batch_op.drop_index("ix_rights_request_queue")
        batch_op.drop_index(batch_op.f("ix_rights_request_requested_by"))
        batch_op.drop_index(batch_op.f("ix_rights_request_person_id"))

    op.drop_table("rights_request")
