"""security events

Revision ID: 20261124_05
Revises: 20261124_04
Create Date: 2026-11-24 18:38:00.971155
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261124_05"
down_revision: str | None = "20261124_04"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "event_stream",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("member_id", sa.String(length=36), nullable=False),
        sa.Column("aud", sa.String(length=64), nullable=False),
        sa.Column("events_requested", sa.JSON(), nullable=False),
        sa.Column("events_delivered", sa.JSON(), nullable=False),
        sa.Column("delivery_method", sa.String(length=32), nullable=False),
        sa.Column("endpoint_url", sa.String(length=2000), nullable=False),
        sa.Column("authorization_header", sa.String(length=2048), nullable=True),
        sa.Column("description", sa.String(length=300), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("status_reason", sa.String(length=300), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "delivery_method IN ('urn:ietf:rfc:8935', 'urn:ietf:rfc:8936')",
            name=op.f("ck_event_stream_delivery_method"),
        ),
        sa.CheckConstraint(
            "status IN ('enabled', 'paused', 'disabled')", name=op.f("ck_event_stream_status")
        ),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["member.id"],
            name=op.f("fk_event_stream_member_id_member"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_stream")),
        sa.UniqueConstraint("member_id", name=op.f("uq_event_stream_member_id")),
    )
    op.create_table(
        "security_event",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("jti", sa.String(length=64), nullable=False),
        sa.Column("recipient_id", sa.String(length=36), nullable=False),
        sa.Column("event_type", sa.String(length=200), nullable=False),
        sa.Column("claims", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "state IN ('pending', 'delivered', 'acknowledged', 'dead', 'not_requested')",
            name=op.f("ck_security_event_state"),
        ),
        sa.ForeignKeyConstraint(
            ["recipient_id"],
            ["member.id"],
            name=op.f("fk_security_event_recipient_id_member"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_security_event")),
        sa.UniqueConstraint("jti", name=op.f("uq_security_event_jti")),
    )
    with op.batch_alter_table("security_event", schema=None) as batch_op:
        batch_op.create_index(
            "ix_security_event_queue", ["recipient_id", "state", "id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("security_event", schema=None) as batch_op:
        batch_op.drop_index("ix_security_event_queue")

    op.drop_table("security_event")
    op.drop_table("event_stream")
