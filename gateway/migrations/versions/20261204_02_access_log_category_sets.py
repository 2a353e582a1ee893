"""The access log names what an entry read as a subset of a stored category set.

``access_log.categories`` (the names of every category read, as JSON: some 800 bytes of
a 900-byte entry for a view) gives way to ``categories_digest``, the ``category_set``
the read chose from (for a view, its purpose's necessary categories), and
``categories_mask``, which of that set's categories it read (hexadecimal, bit n for
the n-th in canonical order). An entry shrinks to some 200 bytes, and a batch of 1,000
views writes a quarter of the pages it did.

Existing entries cite one set, the union of every category they name, each with its
own mask. A downgrade writes the names back from the sets.

Revision ID: 20261204_02
Revises: 20261204_01
Create Date: 2026-12-04 14:30:00.000000
"""

import hashlib
import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261204_02"
down_revision: str | None = "20261204_01"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LOG = sa.table(
    "access_log",
    sa.column("categories", sa.JSON()),
    sa.column("categories_digest", sa.String()),
    sa.column("categories_mask", sa.Text()),
)
SET = sa.table("category_set", sa.column("digest", sa.String()), sa.column("categories", sa.JSON()))
MAP = "access_log_categories_map"  # a working table, gone when the step ends


def _canonical(categories: Sequence[str]) -> list[str]:
    return sorted(set(categories))


def _digest(categories: Sequence[str]) -> str:
    text = json.dumps(_canonical(categories), separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _mask(among: list[str], chosen: Sequence[str]) -> str:
    bits = {category: 1 << n for n, category in enumerate(among)}
    value = 0
    for category in chosen:
        value |= bits[category]
    return format(value, "x")


def _chosen(among: list[str], mask: str) -> list[str]:
    value = int(mask, 16)
    return [c for n, c in enumerate(among) if value >> n & 1]


def upgrade() -> None:
    with op.batch_alter_table("access_log", schema=None) as batch_op:
        batch_op.add_column(sa.Column("categories_digest", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("categories_mask", sa.Text(), nullable=True))

    bind = op.get_bind()
    stored = sa.cast(LOG.c.categories, sa.Text)
    texts = [str(t) for (t,) in bind.execute(sa.select(stored).distinct())]
    if texts:
        parsed = {t: list(json.loads(t)) for t in texts}
        among = _canonical([c for names in parsed.values() for c in names])
        digest = _digest(among)
        if bind.execute(sa.select(SET.c.digest).where(SET.c.digest == digest)).first() is None:
            op.bulk_insert(SET, [{"digest": digest, "categories": among}])
        working = op.create_table(
            MAP,
            sa.Column("stored", sa.Text(), primary_key=True),
            sa.Column("mask", sa.Text(), nullable=False),
        )
        op.bulk_insert(
            working, [{"stored": t, "mask": _mask(among, names)} for t, names in parsed.items()]
        )
        bind.execute(
            LOG.update().values(
                categories_digest=digest,
                categories_mask=sa.select(working.c.mask)
                .where(working.c.stored == stored)
                .scalar_subquery(),
            )
        )
        op.drop_table(MAP)

    with op.batch_alter_table("access_log", schema=None) as batch_op:
        batch_op.alter_column("categories_digest", existing_type=sa.String(64), nullable=False)
        batch_op.alter_column("categories_mask", existing_type=sa.Text(), nullable=False)
        batch_op.drop_column("categories")


def downgrade() -> None:
    with op.batch_alter_table("access_log", schema=None) as batch_op:
        batch_op.add_column(sa.Column("categories", sa.JSON(), nullable=True))

    bind = op.get_bind()
    pairs = bind.execute(sa.select(LOG.c.categories_digest, LOG.c.categories_mask).distinct()).all()
    if pairs:
        digests = sorted({str(d) for d, _ in pairs})
        sets = {
            str(d): _canonical(c)
            for d, c in bind.execute(sa.select(SET).where(SET.c.digest.in_(digests)))
        }
        working = op.create_table(
            MAP,
            sa.Column("digest", sa.String(64), primary_key=True),
            sa.Column("mask", sa.Text(), primary_key=True),
            sa.Column("names", sa.Text(), nullable=False),
        )
        op.bulk_insert(
            working,
            [
                {
                    "digest": str(d),
                    "mask": str(m),
                    "names": json.dumps(_chosen(sets[str(d)], str(m)), separators=(",", ":")),
                }
                for d, m in pairs
            ],
        )
        names = (
            sa.select(working.c.names)
            .where(
                working.c.digest == LOG.c.categories_digest,
                working.c.mask == LOG.c.categories_mask,
            )
            .scalar_subquery()
        )
        # PostgreSQL casts the text to JSON; SQLite stores JSON as text (its CAST AS JSON
        # would read the text as a number).
        value = sa.cast(names, sa.JSON()) if bind.dialect.name == "postgresql" else names
        bind.execute(LOG.update().values(categories=value))
        op.drop_table(MAP)

    with op.batch_alter_table("access_log", schema=None) as batch_op:
        batch_op.alter_column("categories", existing_type=sa.JSON(), nullable=False)
        batch_op.drop_column("categories_mask")
        batch_op.drop_column("categories_digest")
