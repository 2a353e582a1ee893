"""member registry

Revision ID: 20261124_01
Revises:
Create Date: 2026-11-24 17:24:52.123412
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261124_01"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "member",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("name_key", sa.String(length=120), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("client_secret_hash", sa.String(length=128), nullable=True),
        sa.Column("auth_method", sa.String(length=32), nullable=False),
        sa.Column("contact_name", sa.String(length=120), nullable=False),
        sa.Column("contact_email", sa.String(length=254), nullable=False),
        sa.Column("contact_phone", sa.String(length=32), nullable=True),
        sa.Column("contact_address", sa.String(length=300), nullable=True),
        sa.Column("sector", sa.String(length=253), nullable=False),
        sa.Column("login_url", sa.String(length=2000), nullable=True),
        sa.Column("events_endpoint", sa.String(length=2000), nullable=True),
        sa.Column("jwks", sa.JSON(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "auth_method IN ('client_secret_basic', 'private_key_jwt')",
            name=op.f("ck_member_auth_method"),
        ),
        sa.CheckConstraint(
            "kind = 'platform' OR login_url IS NULL", name=op.f("ck_member_login_url_platform")
        ),
        sa.CheckConstraint("kind IN ('platform', 'brand')", name=op.f("ck_member_kind")),
        sa.CheckConstraint("status IN ('active', 'disabled')", name=op.f("ck_member_status")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_member")),
        sa.UniqueConstraint("client_id", name=op.f("uq_member_client_id")),
        sa.UniqueConstraint("name_key", name=op.f("uq_member_name_key")),
    )
    with op.batch_alter_table("member", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_member_kind"), ["kind"], unique=False)

    op.create_table(
        "member_purpose",
        sa.Column("member_id", sa.String(length=36), nullable=False),
        sa.Column("purpose", sa.String(length=120), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["member.id"],
            name=op.f("fk_member_purpose_member_id_member"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("member_id", "purpose", name=op.f("pk_member_purpose")),
    )
    with op.batch_alter_table("member_purpose", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_member_purpose_purpose"), ["purpose"], unique=False)

    op.create_table(
        "member_redirect_uri",
        sa.Column("member_id", sa.String(length=36), nullable=False),
        sa.Column("uri", sa.String(length=2000), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["member.id"],
            name=op.f("fk_member_redirect_uri_member_id_member"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("member_id", "uri", name=op.f("pk_member_redirect_uri")),
    )


def downgrade() -> None:
    op.drop_table("member_redirect_uri")
    with op.batch_alter_table("member_purpose", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_member_purpose_purpose"))

    op.drop_table("member_purpose")
    with op.batch_alter_table("member", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_member_kind"))

    op.drop_table("member")
