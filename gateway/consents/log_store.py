"""The consent log in SQL: a node store, the sequencer, and signed checkpoints.

A consent write only *queues* its commitment (:func:`enqueue`): cheap, and safe to do
from many transactions at once. :func:`integrate` then sequences queued leaves in
batches: it takes the log head with an UPDATE (a row lock on PostgreSQL, the write
lock on SQLite), so one sequencer runs at a time, gives the leaves consecutive
indexes, writes the new perfect subtrees and signs a checkpoint for the new size.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import bindparam, insert, select, text, update
from sqlmodel import Session, col

from consent.checkpoint import Checkpoint, sign_checkpoint, verifier_key
from consent.errors import LogCorrupted
from consent.ledger import MerkleLog, NodeKey
from gateway.consents.log_models import LogCheckpoint, LogHead, LogLeaf, LogNode
from gateway.db import core, utcnow

BATCH = 10_000
HEAD, LEAF, NODE = core(LogHead), core(LogLeaf), core(LogNode)


class SqlNodeStore:
    """:class:`consent.ledger.NodeStore` over ``log_node``; the caller holds the head lock."""

    def __init__(self, session: Session, size: int) -> None:
        self.session = session
        self._size = size

    def size(self) -> int:
        return self._size

    def get_nodes(self, keys: Collection[NodeKey]) -> dict[NodeKey, bytes]:
        if not keys:
            return {}
        # One statement joining a VALUES list of the keys: both planners then search the
        # primary key per key (a row-value IN made SQLite scan the table: 147 ms on a
        # million leaves; this is 0.15 ms). The keys are integers from the log's own
        # planner, and int() guarantees it, so inlining them cannot inject anything.
        values = ",".join(f"({int(level)},{int(idx)})" for level, idx in keys)
        rows = self.session.execute(
            text(
                "SELECT n.level, n.idx, n.hash FROM (VALUES "  # noqa: S608 - integers only
                + values
                + ") AS k JOIN log_node n ON n.level = k.column1 AND n.idx = k.column2"
            )
        )
        return {(level, idx): bytes(value) for level, idx, value in rows}

    def put_nodes(self, nodes: Mapping[NodeKey, bytes], new_size: int) -> None:
        self.session.execute(
            insert(NODE),
            [{"level": level, "idx": idx, "hash": value} for (level, idx), value in nodes.items()],
        )
        self.session.execute(
            update(HEAD).where(HEAD.c.id == 1).values(size=new_size, updated_at=utcnow())
        )
        self._size = new_size


@dataclass(frozen=True)
class LogIdentity:
    """Who signs checkpoints: the origin line and key name (C2SP), and the key."""

    origin: str
    key: Ed25519PrivateKey

    @classmethod
    def for_issuer(cls, issuer: str, key: Ed25519PrivateKey) -> LogIdentity:
        parts = urlsplit(issuer)
        return cls(f"{parts.netloc}{parts.path}/consent-log", key)

    @property
    def verifier_key(self) -> str:
        return verifier_key(self.origin, self.key.public_key())


def enqueue(session: Session, commitments: list[bytes]) -> list[int]:
    """Queue commitments for the sequencer (one statement); their leaf ids, in order.

    Ids are matched back by commitment rather than by RETURNING order, which SQLite
    does not promise for a multi-row INSERT (SQLAlchemy would then insert row by row).
    """
    if not commitments:
        return []
    rows = session.execute(
        insert(LEAF).returning(LEAF.c.id, LEAF.c.commitment),
        [{"commitment": c} for c in commitments],
    )
    ids: dict[bytes, list[int]] = {}
    for leaf_id, commitment in sorted(rows, key=lambda row: int(row[0])):
        ids.setdefault(bytes(commitment), []).append(int(leaf_id))
    return [ids[c].pop(0) for c in commitments]


def lock_head(session: Session) -> int:
    """Take the log head for this transaction and return the sequenced size."""
    size = session.execute(
        update(HEAD).where(HEAD.c.id == 1).values(size=HEAD.c.size).returning(HEAD.c.size)
    ).scalar()
    if size is None:  # the migration creates the row; without it, nothing can be trusted
        raise LogCorrupted("the consent log has no head")
    return int(size)


def integrate(session: Session, identity: LogIdentity, *, limit: int = BATCH) -> int:
    """Sequence up to ``limit`` queued leaves and sign a checkpoint; returns how many."""
    size = lock_head(session)
    queued = session.execute(
        select(LEAF.c.id, LEAF.c.commitment)
        .where(LEAF.c.idx.is_(None))
        .order_by(LEAF.c.id)
        .limit(limit)
    ).all()
    if not queued:
        return 0
    store = SqlNodeStore(session, size)
    log = MerkleLog(store)
    first = log.append_many([bytes(commitment) for _, commitment in queued])
    session.execute(
        update(LEAF).where(LEAF.c.id == bindparam("leaf_id")).values(idx=bindparam("leaf_idx")),
        [{"leaf_id": leaf_id, "leaf_idx": first + n} for n, (leaf_id, _) in enumerate(queued)],
    )
    new_size = first + len(queued)
    checkpoint = Checkpoint(identity.origin, new_size, log.root(new_size))
    note = sign_checkpoint(checkpoint, identity.origin, identity.key)
    session.add(LogCheckpoint(size=new_size, note=note))
    session.flush()
    return len(queued)


def latest_checkpoint(session: Session) -> LogCheckpoint | None:
    return session.execute(
        select(LogCheckpoint).order_by(col(LogCheckpoint.size).desc()).limit(1)
    ).scalar_one_or_none()


def reader(session: Session) -> MerkleLog:
    """A log for reading proofs at the sequenced size (no lock)."""
    size = session.execute(select(HEAD.c.size).where(HEAD.c.id == 1)).scalar()
    return MerkleLog(SqlNodeStore(session, int(size or 0)))
