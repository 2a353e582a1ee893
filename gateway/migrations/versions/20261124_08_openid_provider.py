"""openid provider

Revision ID: 20261124_08
Revises: 20261124_07
Create Date: 2026-11-24 21:23:46.678793
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261124_08"
down_revision: str | None = "20261124_07"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "oauth_revoked_token",
        sa.Column("jti", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("jti", name=op.f("pk_oauth_revoked_token")),
    )
    with op.batch_alter_table("oauth_revoked_token", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_oauth_revoked_token_expires_at"), ["expires_at"], unique=False
        )

    op.create_table(
        "oauth_grant",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("member_id", sa.String(length=36), nullable=False),
        sa.Column("person_id", sa.String(length=36), nullable=False),
        sa.Column("session_id", sa.String(length=80), nullable=True),
        sa.Column("scope", sa.String(length=4000), nullable=False),
        sa.Column("acr", sa.String(length=64), nullable=True),
        sa.Column("amr", sa.JSON(), nullable=False),
        sa.Column("auth_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_reason", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["member.id"],
            name=op.f("fk_oauth_grant_member_id_member"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["person.id"],
            name=op.f("fk_oauth_grant_person_id_person"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oauth_grant")),
    )
    with op.batch_alter_table("oauth_grant", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_oauth_grant_member_id"), ["member_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_oauth_grant_person_id"), ["person_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_oauth_grant_session_id"), ["session_id"], unique=False)

    op.create_table(
        "oauth_interaction",
        sa.Column("id", sa.String(length=80), nullable=False),
        sa.Column("member_id", sa.String(length=36), nullable=False),
        sa.Column("browser_hash", sa.String(length=80), nullable=False),
        sa.Column("parameters", sa.JSON(), nullable=False),
        sa.Column("session_id", sa.String(length=80), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["member.id"],
            name=op.f("fk_oauth_interaction_member_id_member"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oauth_interaction")),
    )
    with op.batch_alter_table("oauth_interaction", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_oauth_interaction_expires_at"), ["expires_at"], unique=False
        )

    op.create_table(
        "oauth_pushed_request",
        sa.Column("id", sa.String(length=80), nullable=False),
        sa.Column("member_id", sa.String(length=36), nullable=False),
        sa.Column("parameters", sa.JSON(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["member.id"],
            name=op.f("fk_oauth_pushed_request_member_id_member"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oauth_pushed_request")),
    )
    with op.batch_alter_table("oauth_pushed_request", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_oauth_pushed_request_expires_at"), ["expires_at"], unique=False
        )

    op.create_table(
        "signin_session",
        sa.Column("id", sa.String(length=80), nullable=False),
        sa.Column("person_id", sa.String(length=36), nullable=False),
        sa.Column("platform_id", sa.String(length=36), nullable=False),
        sa.Column("acr", sa.String(length=64), nullable=True),
        sa.Column("amr", sa.JSON(), nullable=False),
        sa.Column("auth_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["person.id"],
            name=op.f("fk_signin_session_person_id_person"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["platform_id"],
            ["member.id"],
            name=op.f("fk_signin_session_platform_id_member"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_signin_session")),
    )
    with op.batch_alter_table("signin_session", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_signin_session_expires_at"), ["expires_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_signin_session_person_id"), ["person_id"], unique=False
        )

    op.create_table(
        "oauth_code",
        sa.Column("id", sa.String(length=80), nullable=False),
        sa.Column("grant_id", sa.String(length=36), nullable=False),
        sa.Column("redirect_uri", sa.String(length=2000), nullable=False),
        sa.Column("code_challenge", sa.String(length=128), nullable=False),
        sa.Column("nonce", sa.String(length=255), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["grant_id"],
            ["oauth_grant.id"],
            name=op.f("fk_oauth_code_grant_id_oauth_grant"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oauth_code")),
    )
    with op.batch_alter_table("oauth_code", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_oauth_code_expires_at"), ["expires_at"], unique=False)

    op.create_table(
        "oauth_refresh_token",
        sa.Column("id", sa.String(length=80), nullable=False),
        sa.Column("grant_id", sa.String(length=36), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["grant_id"],
            ["oauth_grant.id"],
            name=op.f("fk_oauth_refresh_token_grant_id_oauth_grant"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oauth_refresh_token")),
    )
    with op.batch_alter_table("oauth_refresh_token", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_oauth_refresh_token_expires_at"), ["expires_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_oauth_refresh_token_grant_id"), ["grant_id"], unique=False
        )

    with op.batch_alter_table("member", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("signing_alg", sa.String(length=8), nullable=False, server_default="ES256")
        )
        batch_op.add_column(
            sa.Column("require_par", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.drop_constraint(op.f("ck_member_auth_method"), type_="check")
        batch_op.create_check_constraint(
            "auth_method",
            "auth_method IN ('client_secret_basic', 'client_secret_post', 'private_key_jwt',"
            " 'none')",
        )
        batch_op.create_check_constraint("signing_alg", "signing_alg IN ('ES256', 'RS256')")


def downgrade() -> None:
    op.execute("DELETE FROM member WHERE auth_method IN ('client_secret_post', 'none')")
    with op.batch_alter_table("member", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_member_signing_alg"), type_="check")
        batch_op.drop_constraint(op.f("ck_member_auth_method"), type_="check")
        batch_op.create_check_constraint(
            "auth_method", "auth_method IN ('client_secret_basic', 'private_key_jwt')"
        )
        batch_op.drop_column("require_par")
        batch_op.drop_column("signing_alg")

    with op.batch_alter_table("oauth_refresh_token", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_oauth_refresh_token_grant_id"))
        batch_op.drop_index(batch_op.f("ix_oauth_refresh_token_expires_at"))

    op.drop_table("oauth_refresh_token")
    with op.batch_alter_table("oauth_code", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_oauth_code_expires_at"))

    op.drop_table("oauth_code")
    with op.batch_alter_table("signin_session", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_signin_session_person_id"))
        batch_op.drop_index(batch_op.f("ix_signin_session_expires_at"))

    op.drop_table("signin_session")
    with op.batch_alter_table("oauth_pushed_request", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_oauth_pushed_request_expires_at"))

    op.drop_table("oauth_pushed_request")
    with op.batch_alter_table("oauth_interaction", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_oauth_interaction_expires_at"))

    op.drop_table("oauth_interaction")
    with op.batch_alter_table("oauth_grant", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_oauth_grant_session_id"))
        batch_op.drop_index(batch_op.f("ix_oauth_grant_person_id"))
        batch_op.drop_index(batch_op.f("ix_oauth_grant_member_id"))

    op.drop_table("oauth_grant")
    with op.batch_alter_table("oauth_revoked_token", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_oauth_revoked_token_expires_at"))

    op.drop_table("oauth_revoked_token")
