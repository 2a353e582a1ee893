"""Category sets, and the sandbox's eligibility as an index-only scan.

Each distinct set of categories consent records name is stored once in
``category_set``, keyed by the SHA-256 of its canonical JSON; a record cites it by
``categories_digest`` instead of holding the categories (existing records are
backfilled, then ``consent_record.categories`` goes; a downgrade puts it back from the
sets). ``ix_consent_record_eligibility`` replaces ``ix_consent_record_recipient_purpose``:
the same leading columns, then the digest, and (PostgreSQL) every other column the
eligibility test reads, so the sandbox decides coverage once per set.

Revision ID: 20261203_01
Revises: 20261125_05
Create Date: 2026-12-03 20:05:00.000000
"""

import hashlib
import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "20261203_01"
down_revision: str | None = "20261125_05"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CATEGORIES = sa.JSON().with_variant(JSONB(), "postgresql")
INCLUDE = [
    "person_id",
    "valid_from",
    "ends_at",
    "separate",
    "notice_id",
    "notice_version",
    "guardian_ref",
]


def _digest(categories: list[str]) -> str:
    # as gateway.consents.category_sets.digest at this revision
    text = json.dumps(sorted(set(categories)), separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def upgrade() -> None:
    bind = op.get_bind()
    category_set = op.create_table(
        "category_set",
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("categories", CATEGORIES, nullable=False),
        sa.PrimaryKeyConstraint("digest", name=op.f("pk_category_set")),
    )
    with op.batch_alter_table("consent_record", schema=None) as batch_op:
        batch_op.add_column(sa.Column("categories_digest", sa.String(length=64), nullable=True))

    # Backfill: one digest per distinct stored set, matched by the stored set's text.
    record = sa.table("consent_record", sa.column("categories"), sa.column("categories_digest"))
    stored = sa.cast(record.c.categories, sa.Text)
    texts = [str(t) for (t,) in bind.execute(sa.select(stored).distinct())]
    if texts:
        parsed = {t: list(json.loads(t)) for t in texts}
        rows = {_digest(c): sorted(set(c)) for c in parsed.values()}
        op.bulk_insert(category_set, [{"digest": d, "categories": c} for d, c in rows.items()])
        bind.execute(
            record.update()
            .where(stored == sa.bindparam("stored"))
            .values(categories_digest=sa.bindparam("digest")),
            [{"digest": _digest(c), "stored": t} for t, c in parsed.items()],
        )

    with op.batch_alter_table("consent_record", schema=None) as batch_op:
        batch_op.alter_column(
            "categories_digest", existing_type=sa.String(length=64), nullable=False
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_consent_record_categories_digest_category_set"),
            "category_set",
            ["categories_digest"],
            ["digest"],
        )
        batch_op.drop_index("ix_consent_record_recipient_purpose")
        batch_op.create_index(
            "ix_consent_record_eligibility",
            ["recipient_id", "purpose", "state", "categories_digest"],
            unique=False,
            postgresql_include=INCLUDE,
        )
        batch_op.drop_column("categories")


def downgrade() -> None:
    with op.batch_alter_table("consent_record", schema=None) as batch_op:
        batch_op.add_column(sa.Column("categories", CATEGORIES, nullable=True))
    record = sa.table("consent_record", sa.column("categories"), sa.column("categories_digest"))
    category_set = sa.table("category_set", sa.column("digest"), sa.column("categories"))
    op.get_bind().execute(
        record.update().values(
            categories=sa.select(category_set.c.categories)
            .where(category_set.c.digest == record.c.categories_digest)
            .scalar_subquery()
        )
    )
    with op.batch_alter_table("consent_record", schema=None) as batch_op:
        batch_op.alter_column("categories", existing_type=CATEGORIES, nullable=False)
        batch_op.drop_index("ix_consent_record_eligibility")
        batch_op.create_index(
            "ix_consent_record_recipient_purpose",
            ["recipient_id", "purpose", "state"],
            unique=False,
        )
        batch_op.drop_constraint(
            batch_op.f("fk_consent_record_categories_digest_category_set"), type_="foreignkey"
        )
        batch_op.drop_column("categories_digest")
    op.drop_table("category_set")
