"""Lighter reads and writes for the unified views.

- ``access_log.reader`` no longer references ``member``. The access log is an audit
  trail: an entry must outlive what it names, and the check cost every entry a lookup
  and a row lock on the brand's member row, 900 of them per batch of views, taken by
  every concurrent batch of the same brand (PostgreSQL multixacts). The gateway writes
  the reader's id from the member it just authenticated; members are disabled, never
  deleted.
- On PostgreSQL, ``pairwise_subject``'s primary key carries ``person_id`` (INCLUDE), so
  resolving a brand's subjects is an index-only scan: one page fewer per subject.

Revision ID: 20261204_01
Revises: 20261203_03
Create Date: 2026-12-04 09:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "20261204_01"
down_revision: str | None = "20261203_03"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("access_log", schema=None) as batch_op:
        batch_op.drop_constraint("fk_access_log_reader_member", type_="foreignkey")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "ALTER TABLE pairwise_subject DROP CONSTRAINT pk_pairwise_subject,"
            " ADD CONSTRAINT pk_pairwise_subject PRIMARY KEY (sector, sub) INCLUDE (person_id)"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "ALTER TABLE pairwise_subject DROP CONSTRAINT pk_pairwise_subject,"
            " ADD CONSTRAINT pk_pairwise_subject PRIMARY KEY (sector, sub)"
        )
    with op.batch_alter_table("access_log", schema=None) as batch_op:
        batch_op.create_foreign_key(
            "fk_access_log_reader_member", "member", ["reader"], ["id"], ondelete="CASCADE"
        )
