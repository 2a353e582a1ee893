"""persons, notices and consent records

Revision ID: 20261124_04
Revises: 20261124_03
Create Date: 2026-11-24 18:35:07.434697
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261124_04"
down_revision: str | None = "20261124_03"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "assertion_jti",
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("jti", sa.String(length=255), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("client_id", "jti", name=op.f("pk_assertion_jti")),
    )
    with op.batch_alter_table("assertion_jti", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_assertion_jti_expires_at"), ["expires_at"], unique=False
        )

    op.create_table(
        "notice_version",
        sa.Column("notice_id", sa.String(length=120), nullable=False),
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("language", sa.String(length=16), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("text_hash", sa.String(length=71), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("notice_id", "version", name=op.f("pk_notice_version")),
    )
    op.create_table(
        "person",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("minor_under_14", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_person")),
    )
    op.create_table(
        "consent_record",
        sa.Column("record_id", sa.String(length=36), nullable=False),
        sa.Column("receipt_id", sa.String(length=36), nullable=False),
        sa.Column("person_id", sa.String(length=36), nullable=False),
        sa.Column("recipient_id", sa.String(length=36), nullable=False),
        sa.Column("recipient_kind", sa.String(length=16), nullable=False),
        sa.Column("recipient_name", sa.String(length=120), nullable=False),
        sa.Column("recipient_contact", sa.String(length=254), nullable=False),
        sa.Column("purpose", sa.String(length=120), nullable=False),
        sa.Column("categories", sa.JSON(), nullable=False),
        sa.Column("lawful_basis", sa.String(length=32), nullable=False),
        sa.Column("consent_type", sa.String(length=16), nullable=False),
        sa.Column("separate", sa.Boolean(), nullable=False),
        sa.Column("sensitive", sa.Boolean(), nullable=False),
        sa.Column("guardian_ref", sa.String(length=255), nullable=True),
        sa.Column("notice_id", sa.String(length=120), nullable=False),
        sa.Column("notice_version", sa.Integer(), nullable=False),
        sa.Column("notice_hash", sa.String(length=71), nullable=False),
        sa.Column("language", sa.String(length=16), nullable=False),
        sa.Column("jurisdiction", sa.String(length=16), nullable=False),
        sa.Column("storage_location", sa.String(length=64), nullable=False),
        sa.Column("retention_days", sa.Integer(), nullable=False),
        sa.Column("withdrawal_method", sa.String(length=300), nullable=False),
        sa.Column("standard_version", sa.String(length=32), nullable=False),
        sa.Column("schema_version", sa.String(length=64), nullable=False),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("valid_until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["person.id"],
            name=op.f("fk_consent_record_person_id_person"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["recipient_id"], ["member.id"], name=op.f("fk_consent_record_recipient_id_member")
        ),
        sa.PrimaryKeyConstraint("record_id", name=op.f("pk_consent_record")),
        sa.UniqueConstraint("receipt_id", name=op.f("uq_consent_record_receipt_id")),
    )
    with op.batch_alter_table("consent_record", schema=None) as batch_op:
        batch_op.create_index(
            "ix_consent_record_notice", ["notice_id", "notice_version", "state"], unique=False
        )
        batch_op.create_index(
            "ix_consent_record_person_recipient", ["person_id", "recipient_id"], unique=False
        )
        batch_op.create_index(
            "ix_consent_record_recipient_purpose",
            ["recipient_id", "purpose", "state"],
            unique=False,
        )

    op.create_table(
        "pairwise_subject",
        sa.Column("sector", sa.String(length=253), nullable=False),
        sa.Column("sub", sa.String(length=64), nullable=False),
        sa.Column("person_id", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["person.id"],
            name=op.f("fk_pairwise_subject_person_id_person"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("sector", "sub", name=op.f("pk_pairwise_subject")),
        sa.UniqueConstraint(
            "sector", "person_id", name=op.f("uq_pairwise_subject_sector_person_id")
        ),
    )
    with op.batch_alter_table("pairwise_subject", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_pairwise_subject_person_id"), ["person_id"], unique=False
        )

    op.create_table(
        "platform_account",
        sa.Column("platform_id", sa.String(length=36), nullable=False),
        sa.Column("account_id", sa.String(length=255), nullable=False),
        sa.Column("person_id", sa.String(length=36), nullable=False),
        sa.Column("linked_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["person.id"],
            name=op.f("fk_platform_account_person_id_person"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["platform_id"],
            ["member.id"],
            name=op.f("fk_platform_account_platform_id_member"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("platform_id", "account_id", name=op.f("pk_platform_account")),
    )
    with op.batch_alter_table("platform_account", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_platform_account_person_id"), ["person_id"], unique=False
        )

    op.create_table(
        "consent_event",
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("record_id", sa.String(length=36), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=16), nullable=False),
        sa.Column("method", sa.String(length=64), nullable=False),
        sa.Column("ip_hash", sa.String(length=80), nullable=True),
        sa.Column("user_agent", sa.String(length=300), nullable=True),
        sa.Column("valid_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reason", sa.String(length=300), nullable=True),
        sa.Column("principal", sa.String(length=64), nullable=False),
        sa.Column("salt", sa.LargeBinary(length=32), nullable=False),
        sa.Column("leaf_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["leaf_id"], ["log_leaf.id"], name=op.f("fk_consent_event_leaf_id_log_leaf")
        ),
        sa.ForeignKeyConstraint(
            ["record_id"],
            ["consent_record.record_id"],
            name=op.f("fk_consent_event_record_id_consent_record"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_consent_event")),
        sa.UniqueConstraint("leaf_id", name=op.f("uq_consent_event_leaf_id")),
        sa.UniqueConstraint("record_id", "seq", name=op.f("uq_consent_event_record_id_seq")),
    )


def downgrade() -> None:
    op.drop_table("consent_event")
    with op.batch_alter_table("platform_account", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_platform_account_person_id"))

    op.drop_table("platform_account")
    with op.batch_alter_table("pairwise_subject", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pairwise_subject_person_id"))

    op.drop_table("pairwise_subject")
    with op.batch_alter_table("consent_record", schema=None) as batch_op:
        batch_op.drop_index("ix_consent_record_recipient_purpose")
        batch_op.drop_index("ix_consent_record_person_recipient")
        batch_op.drop_index("ix_consent_record_notice")

    op.drop_table("consent_record")
    op.drop_table("person")
    op.drop_table("notice_version")
    with op.batch_alter_table("assertion_jti", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_assertion_jti_expires_at"))

    op.drop_table("assertion_jti")
