"""The consent log in SQL: sequencing, proofs against signed checkpoints, tampering."""

from __future__ import annotations

import hashlib
import threading

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import text, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

import sdk
from consent.checkpoint import open_checkpoint
from consent.errors import CheckpointError
from consent.ledger import MemoryNodeStore, MerkleLog, audit
from gateway.consents import log_store
from gateway.consents.log_models import LogLeaf, LogNode
from gateway.consents.log_store import LogIdentity
from gateway.db import core, session_factory, transaction

IDENTITY = LogIdentity.for_issuer("https://accord.example", Ed25519PrivateKey.generate())


def commitment(n: int) -> bytes:
    return hashlib.sha256(f"event-{n}".encode()).digest()


def enqueue_all(engine: Engine, numbers: range) -> None:
    with transaction(session_factory(engine)) as session:
        for n in numbers:
            log_store.enqueue(session, [commitment(n)])


def integrate(engine: Engine) -> int:
    with transaction(session_factory(engine)) as session:
        return log_store.integrate(session, IDENTITY)


def latest_note(engine: Engine) -> str:
    with Session(engine) as session:
        checkpoint = log_store.latest_checkpoint(session)
        assert checkpoint is not None
        return checkpoint.note


def test_sequenced_leaves_form_the_same_tree_as_in_memory(engine: Engine) -> None:
    enqueue_all(engine, range(0, 37))
    assert integrate(engine) == 37
    enqueue_all(engine, range(37, 100))
    assert integrate(engine) == 63
    assert integrate(engine) == 0  # nothing queued: no new checkpoint
    reference = MerkleLog(MemoryNodeStore())
    reference.append_many([commitment(n) for n in range(100)])
    with Session(engine) as session:
        log = log_store.reader(session)
        assert log.size() == 100
        assert log.root() == reference.root()
        indexes = session.exec(select(LogLeaf.idx).order_by(col(LogLeaf.id))).all()
    assert list(indexes) == list(range(100))


def test_proofs_verify_against_the_signed_checkpoints(engine: Engine) -> None:
    enqueue_all(engine, range(20))
    integrate(engine)
    old_note = latest_note(engine)
    enqueue_all(engine, range(20, 45))
    integrate(engine)
    new = sdk.open_checkpoint(latest_note(engine), IDENTITY.verifier_key)
    old = sdk.open_checkpoint(old_note, IDENTITY.verifier_key)
    assert (old.origin, old.size, new.size) == ("accord.example/consent-log", 20, 45)
    with Session(engine) as session:
        log = log_store.reader(session)
        for index in (0, 7, 19, 20, 44):
            proof = log.inclusion_proof(index, new.size)
            assert sdk.verify_inclusion(commitment(index), index, new.size, proof, new.root)
        consistency = log.consistency_proof(old.size, new.size)
    assert sdk.verify_consistency(old.size, new.size, old.root, new.root, consistency)
    other = LogIdentity.for_issuer("https://accord.example", Ed25519PrivateKey.generate())
    with pytest.raises(sdk.CheckpointError):
        sdk.open_checkpoint(latest_note(engine), other.verifier_key)


def test_concurrent_writers_and_sequencers_lose_nothing(engine: Engine) -> None:
    sessions = session_factory(engine)
    start = threading.Barrier(8)

    def writer(worker: int) -> None:
        start.wait()
        for batch in range(5):
            with transaction(sessions) as session:
                log_store.enqueue(
                    session, [commitment(worker * 1000 + batch * 10 + n) for n in range(10)]
                )
            with transaction(sessions) as session:
                log_store.integrate(session, IDENTITY)

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    integrate(engine)
    with Session(engine) as session:
        rows = session.exec(
            select(LogLeaf.idx, LogLeaf.commitment).order_by(col(LogLeaf.idx))
        ).all()
        assert [idx for idx, _ in rows] == list(range(400))
        log = log_store.reader(session)
        store = log_store.SqlNodeStore(session, log.size())
        assert audit(store, [bytes(c) for _, c in rows]) == []
    checkpoint = sdk.open_checkpoint(latest_note(engine), IDENTITY.verifier_key)
    assert checkpoint.size == 400


def test_tampering_with_a_stored_node_is_detected(engine: Engine) -> None:
    enqueue_all(engine, range(16))
    integrate(engine)
    checkpoint = sdk.open_checkpoint(latest_note(engine), IDENTITY.verifier_key)
    with transaction(session_factory(engine)) as session:
        session.execute(
            update(core(LogNode))
            .where(core(LogNode).c.level == 2, core(LogNode).c.idx == 1)
            .values(hash=b"\x00" * 32)
        )
    with Session(engine) as session:
        log = log_store.reader(session)
        proof = log.inclusion_proof(0, 16)  # uses the node over leaves 4..7
        assert not sdk.verify_inclusion(commitment(0), 0, 16, proof, checkpoint.root)
        store = log_store.SqlNodeStore(session, 16)
        assert audit(store, [commitment(n) for n in range(16)]) == [
            "node (2, 1): stored hash differs"
        ]
    # Tampering with the stored root itself: the head no longer matches the checkpoint.
    with transaction(session_factory(engine)) as session:
        session.execute(
            update(core(LogNode))
            .where(core(LogNode).c.level == 4, core(LogNode).c.idx == 0)
            .values(hash=b"\x01" * 32)
        )
    with Session(engine) as session:
        assert log_store.reader(session).root() != checkpoint.root


def test_tampering_with_a_checkpoint_is_detected(engine: Engine) -> None:
    enqueue_all(engine, range(3))
    integrate(engine)
    note = latest_note(engine)
    forged = note.replace("\n3\n", "\n4\n", 1)
    with pytest.raises(sdk.CheckpointError):
        sdk.open_checkpoint(forged, IDENTITY.verifier_key)
    with pytest.raises(CheckpointError):
        open_checkpoint(forged, IDENTITY.verifier_key)


def test_the_head_row_comes_with_the_migration(engine: Engine) -> None:
    with Session(engine) as session:
        assert session.execute(text("SELECT size FROM log_head WHERE id = 1")).scalar() == 0
