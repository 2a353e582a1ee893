"""The consent log: RFC 9162 roots and proofs, one batched read per proof, audit, checkpoints.

Roots and proofs are checked against a reference written here from RFC 9162 §2.1 (the
recursive definitions and the §2.1.3.2 / §2.1.4.2 verification algorithms), sharing
nothing with the code under test, and against the SDK's independent verifier.
"""

from __future__ import annotations

import base64
import hashlib
import random
from collections.abc import Callable, Collection, Mapping, Sequence

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import given, settings
from hypothesis import strategies as st

from consent.checkpoint import (
    Checkpoint,
    open_checkpoint,
    open_note,
    sign_checkpoint,
    sign_note,
    verifier_key,
)
from consent.errors import CheckpointError, ConsentError, LogCorrupted, LogError
from consent.ledger import (
    EMPTY_ROOT,
    MemoryNodeStore,
    MerkleLog,
    NodeKey,
    NodeStore,
    audit,
    canonical_json,
    consistency_keys,
    event_commitment,
    inclusion_keys,
    perfect_cover,
)
from sdk import merkle

LEAVES = [hashlib.sha256(b"consent event %d" % i).digest() for i in range(1200)]

# --- the reference, from RFC 9162 §2.1 --------------------------------------------------


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def largest_power_below(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(d: Sequence[bytes]) -> bytes:
    """§2.1.1, MTH(D[n]) exactly as defined."""
    if not d:
        return sha256(b"")
    if len(d) == 1:
        return sha256(b"\x00" + d[0])
    k = largest_power_below(len(d))
    return sha256(b"\x01" + mth(d[:k]) + mth(d[k:]))


def path(m: int, d: Sequence[bytes]) -> list[bytes]:
    """§2.1.3.1, PATH(m, D[n])."""
    if len(d) == 1:
        return []
    k = largest_power_below(len(d))
    if m < k:
        return [*path(m, d[:k]), mth(d[k:])]
    return [*path(m - k, d[k:]), mth(d[:k])]


def subproof(m: int, d: Sequence[bytes], b: bool) -> list[bytes]:
    """§2.1.4.1, SUBPROOF(m, D[n], b)."""
    if m == len(d):
        return [] if b else [mth(d)]
    k = largest_power_below(len(d))
    if m <= k:
        return [*subproof(m, d[:k], b), mth(d[k:])]
    return [*subproof(m - k, d[k:], False), mth(d[:k])]


def lsb(x: int) -> bool:
    return x & 1 == 1


def rfc_verify_inclusion(
    leaf_data: bytes, leaf_index: int, tree_size: int, inclusion_path: list[bytes], root: bytes
) -> bool:
    """§2.1.3.2, step by step."""
    if leaf_index >= tree_size:  # 1
        return False
    fn, sn = leaf_index, tree_size - 1  # 2
    r = sha256(b"\x00" + leaf_data)  # 3
    for p in inclusion_path:  # 4
        if sn == 0:  # 4a
            return False
        if lsb(fn) or fn == sn:  # 4b
            r = sha256(b"\x01" + p + r)
            if not lsb(fn):
                while not (lsb(fn) or fn == 0):
                    fn, sn = fn >> 1, sn >> 1
        else:
            r = sha256(b"\x01" + r + p)
        fn, sn = fn >> 1, sn >> 1  # 4c
    return sn == 0 and r == root  # 5


def rfc_verify_consistency(
    first: int, second: int, first_hash: bytes, second_hash: bytes, consistency_path: list[bytes]
) -> bool:
    """§2.1.4.2, step by step, for 0 < first <= second (equal sizes: nothing to prove)."""
    if first == second:
        return not consistency_path and first_hash == second_hash
    if not consistency_path:  # 1
        return False
    if first & (first - 1) == 0:  # 2
        consistency_path = [first_hash, *consistency_path]
    fn, sn = first - 1, second - 1  # 3
    while lsb(fn):  # 4
        fn, sn = fn >> 1, sn >> 1
    fr = sr = consistency_path[0]  # 5
    for c in consistency_path[1:]:  # 6
        if sn == 0:  # 6a
            return False
        if lsb(fn) or fn == sn:  # 6b
            fr = sha256(b"\x01" + c + fr)
            sr = sha256(b"\x01" + c + sr)
            if not lsb(fn):
                while not (lsb(fn) or fn == 0):
                    fn, sn = fn >> 1, sn >> 1
        else:
            sr = sha256(b"\x01" + sr + c)
        fn, sn = fn >> 1, sn >> 1  # 6c
    return sn == 0 and fr == first_hash and sr == second_hash  # 7


def inclusion_verifies(leaf: bytes, index: int, size: int, proof: list[bytes], root: bytes) -> bool:
    ours = rfc_verify_inclusion(leaf, index, size, proof, root)
    assert merkle.verify_inclusion(leaf, index, size, proof, root) is ours, (index, size)
    return ours


def consistency_verifies(m: int, n: int, old: bytes, new: bytes, proof: list[bytes]) -> bool:
    ours = rfc_verify_consistency(m, n, old, new, proof)
    assert merkle.verify_consistency(m, n, old, new, proof) is ours, (m, n)
    return ours


def seeded(seed: int) -> random.Random:
    return random.Random(seed)  # noqa: S311 - reproducible test data, not a secret


def ceil_log2(n: int) -> int:
    return (n - 1).bit_length()  # exact for n >= 1, no floating point


# --- stores -----------------------------------------------------------------------------


class CountingStore:
    """Wraps a store and records every read and write."""

    def __init__(self, inner: NodeStore) -> None:
        self.inner = inner
        self.reads: list[set[NodeKey]] = []
        self.writes = 0

    def size(self) -> int:
        return self.inner.size()

    def get_nodes(self, keys: Collection[NodeKey]) -> dict[NodeKey, bytes]:
        self.reads.append(set(keys))
        return self.inner.get_nodes(keys)

    def put_nodes(self, nodes: Mapping[NodeKey, bytes], new_size: int) -> None:
        self.writes += 1
        self.inner.put_nodes(nodes, new_size)


class PhantomStore:
    """A log of any size that is never built: it makes up each perfect subtree it is asked."""

    def __init__(self, size: int) -> None:
        self._size = size
        self.reads: list[set[NodeKey]] = []

    def size(self) -> int:
        return self._size

    def get_nodes(self, keys: Collection[NodeKey]) -> dict[NodeKey, bytes]:
        self.reads.append(set(keys))
        for level, index in keys:
            assert (index + 1) << level <= self._size, "only perfect subtrees are stored"
        return {key: sha256(repr(key).encode()) for key in keys}

    def put_nodes(self, nodes: Mapping[NodeKey, bytes], new_size: int) -> None:
        raise AssertionError("read only")


def build(count: int, chunks: Sequence[int] = ()) -> tuple[MerkleLog, MemoryNodeStore]:
    store = MemoryNodeStore()
    log = MerkleLog(store)
    done = 0
    for chunk in chunks or [count]:
        assert log.append_many(LEAVES[done : done + chunk]) == done
        done += chunk
    assert done == count
    return log, store


@pytest.fixture(scope="module")
def log70() -> MerkleLog:
    return build(70, [1, 2, 3, 5, 8, 13, 21, 17])[0]


# --- roots and proofs -------------------------------------------------------------------


def test_roots_match_the_rfc_for_every_size_up_to_70(log70: MerkleLog) -> None:
    assert log70.root(0) == EMPTY_ROOT == mth([])
    for n in range(1, 71):
        assert log70.root(n) == mth(LEAVES[:n]), n
    assert log70.root() == log70.root(70)


def test_roots_of_larger_trees() -> None:
    rng = seeded(9162)
    chunks: list[int] = []
    while sum(chunks) < len(LEAVES):
        chunks.append(min(rng.randint(1, 90), len(LEAVES) - sum(chunks)))
    log, _ = build(len(LEAVES), chunks)
    sizes = [127, 128, 129, 255, 256, 257, 1023, 1024, 1025, 1200]
    for n in sizes + rng.sample(range(71, 1200), 8):
        assert log.root(n) == mth(LEAVES[:n]), n


def test_inclusion_proofs_for_every_index_and_size(log70: MerkleLog) -> None:
    for n in range(1, 71):
        root = mth(LEAVES[:n])
        for m in range(n):
            proof = log70.inclusion_proof(m, n)
            assert proof == path(m, LEAVES[:n]), (m, n)
            assert inclusion_verifies(LEAVES[m], m, n, proof, root), (m, n)


def test_consistency_proofs_for_every_pair_of_sizes(log70: MerkleLog) -> None:
    for n in range(1, 41):
        new = mth(LEAVES[:n])
        for m in range(1, n + 1):
            proof = log70.consistency_proof(m, n)
            assert proof == subproof(m, LEAVES[:n], True), (m, n)
            assert consistency_verifies(m, n, mth(LEAVES[:m]), new, proof), (m, n)


def test_the_empty_tree_is_extended_by_every_tree(log70: MerkleLog) -> None:
    for n in (0, 1, 2, 70):
        assert log70.consistency_proof(0, n) == []
        assert merkle.verify_consistency(0, n, EMPTY_ROOT, log70.root(n), [])
    assert not merkle.verify_consistency(0, 5, log70.root(1), log70.root(5), [])


def flip(data: bytes, at: int = 0) -> bytes:
    return data[:at] + bytes([data[at] ^ 1]) + data[at + 1 :]


def test_tampered_inclusion_proofs_fail(log70: MerkleLog) -> None:
    for n in range(1, 71):
        root = log70.root(n)
        for m in range(n):
            proof = log70.inclusion_proof(m, n)
            for wrong in {m - 1, m + 1, n - 1 - m, m + n} - {m}:
                if wrong >= 0:
                    assert not inclusion_verifies(LEAVES[m], wrong, n, proof, root), (m, n)
            assert not inclusion_verifies(LEAVES[m], m, n, proof, flip(root))
            assert not inclusion_verifies(LEAVES[m + 1], m, n, proof, root)
            assert not inclusion_verifies(LEAVES[m], m, n, [*proof, root], root)
            for i in range(len(proof)):
                changed = [*proof[:i], flip(proof[i], i), *proof[i + 1 :]]
                assert not inclusion_verifies(LEAVES[m], m, n, changed, root), (m, n, i)
            if proof:
                assert not inclusion_verifies(LEAVES[m], m, n, proof[:-1], root)
                assert not inclusion_verifies(LEAVES[m], m, n, proof[1:], root)


def test_tampered_consistency_proofs_fail(log70: MerkleLog) -> None:
    for n in range(2, 41):
        new = log70.root(n)
        for m in range(1, n):
            old = log70.root(m)
            proof = log70.consistency_proof(m, n)
            assert not consistency_verifies(m, n, flip(old), new, proof), (m, n)
            assert not consistency_verifies(m, n, old, flip(new), proof), (m, n)
            assert not consistency_verifies(m, n, old, new, [*proof, new]), (m, n)
            assert not consistency_verifies(m, n, old, new, proof[:-1]), (m, n)
            assert not consistency_verifies(m, n, old, new, proof[1:]), (m, n)
            for i in range(len(proof)):
                changed = [*proof[:i], flip(proof[i], i), *proof[i + 1 :]]
                assert not consistency_verifies(m, n, old, new, changed), (m, n, i)
            if m + 1 < n:
                assert not consistency_verifies(m + 1, n, old, new, proof), (m, n)


@pytest.mark.parametrize(
    "chunks",
    [
        pytest.param([1] * 33, id="one-at-a-time"),
        pytest.param([33], id="one-batch"),
        pytest.param([3, 5, 1, 8, 16], id="uneven"),
        pytest.param([16, 16, 1], id="perfect-then-one"),
        pytest.param([7, 1, 1, 24], id="odd-then-large"),
    ],
)
def test_append_many_equals_repeated_append(chunks: list[int]) -> None:
    _, one_by_one = build(33, [1] * 33)
    _, batched = build(33, chunks)
    assert batched.nodes == one_by_one.nodes
    assert batched.size() == 33


def test_append_many_reads_once_and_writes_once() -> None:
    _, inner = build(45)
    counting = CountingStore(inner)
    log = MerkleLog(counting)
    assert log.append_many(LEAVES[45:83]) == 45
    assert (len(counting.reads), counting.writes) == (1, 1)
    assert counting.reads[0] == {(0, 44), (2, 10), (3, 4), (5, 0)}  # the cover of D[0:45]
    assert log.append(LEAVES[83]) == 83
    assert log.root() == mth(LEAVES[:84])
    _, fresh = build(84, [1] * 84)
    assert inner.nodes == fresh.nodes


# --- reads ------------------------------------------------------------------------------


def test_every_proof_is_one_read_of_the_planned_keys() -> None:
    _, inner = build(70)
    store = CountingStore(inner)
    log = MerkleLog(store)
    for n in range(1, 71):
        for m in range(n):
            store.reads.clear()
            log.inclusion_proof(m, n)
            keys = inclusion_keys(m, n)
            assert store.reads == ([keys] if keys else []), (m, n)
            assert len(keys) <= 2 * ceil_log2(n) + 2
        store.reads.clear()
        log.root(n)
        assert len(store.reads) == 1 and len(store.reads[0]) == n.bit_count()
    for n in range(1, 41):
        for m in range(n + 1):
            store.reads.clear()
            log.consistency_proof(m, n)
            keys = consistency_keys(m, n)
            assert store.reads == ([keys] if keys else []), (m, n)
            assert len(keys) <= 2 * ceil_log2(n) + 2


def test_reads_stay_logarithmic_up_to_a_million_leaves() -> None:
    rng = seeded(6962)
    sizes = [2**20, 2**20 - 1, 2**19 + 1, 2**19 + 12345, 3, 1000]
    sizes += [rng.randint(2, 2**20) for _ in range(40)]
    for n in sizes:
        store = PhantomStore(n)
        log = MerkleLog(store)
        indices = {0, n - 1, n // 2, *(rng.randrange(n) for _ in range(30))}
        olds = {1, n - 1, n // 2, *(rng.randint(1, n) for _ in range(30))}
        for m in indices:
            store.reads.clear()
            assert len(log.inclusion_proof(m, n)) <= ceil_log2(n)
            keys = inclusion_keys(m, n)
            assert store.reads == [keys] and len(keys) <= 2 * ceil_log2(n) + 2, (m, n)
        for m in olds:
            store.reads.clear()
            log.consistency_proof(m, n)
            keys = consistency_keys(m, n)
            assert store.reads == ([keys] if keys else []), (m, n)
            assert len(keys) <= 2 * ceil_log2(n) + 2, (m, n)


def test_perfect_cover_is_the_aligned_decomposition() -> None:
    assert perfect_cover(0, 45) == [(5, 0), (3, 4), (2, 10), (0, 44)]
    assert perfect_cover(3, 13) == [(0, 3), (2, 1), (2, 2), (0, 12)]
    assert perfect_cover(7, 7) == []


def test_planned_keys_are_logarithmic_for_every_index_of_small_trees() -> None:
    for n in range(1, 300):
        bound = 2 * ceil_log2(n) + 2
        assert max(len(inclusion_keys(m, n)) for m in range(n)) <= bound, n
        assert max(len(consistency_keys(m, n)) for m in range(n + 1)) <= bound, n


# --- audit ------------------------------------------------------------------------------


def test_audit_of_an_untampered_store_finds_nothing() -> None:
    _, store = build(70, [9, 61])
    assert audit(store, LEAVES[:70]) == []
    assert audit(MemoryNodeStore(), []) == []


@pytest.mark.parametrize(
    "key",
    [
        pytest.param((0, 5), id="leaf"),
        pytest.param((0, 69), id="last-leaf"),
        pytest.param((3, 2), id="interior"),
        pytest.param((6, 0), id="largest-subtree"),
    ],
)
def test_audit_names_a_tampered_node(key: NodeKey) -> None:
    _, store = build(70)
    store.nodes[key] = flip(store.nodes[key])
    assert audit(store, LEAVES[:70]) == [f"node {key}: stored hash differs"]


def test_audit_detects_tampering_with_any_node() -> None:
    _, store = build(45)
    for key, value in list(store.nodes.items()):
        store.nodes[key] = flip(value, 31)
        assert audit(store, LEAVES[:45]) == [f"node {key}: stored hash differs"]
        store.nodes[key] = value


def test_audit_detects_changed_leaf_data_and_missing_nodes() -> None:
    _, store = build(12)
    leaves = list(LEAVES[:12])
    leaves[5] = flip(leaves[5])
    assert audit(store, leaves) == [
        f"node {key}: stored hash differs" for key in [(0, 5), (1, 2), (2, 1), (3, 0)]
    ]
    del store.nodes[(2, 2)]
    assert audit(store, LEAVES[:12]) == ["node (2, 2): missing"]
    assert audit(store, LEAVES[:11])[0] == "size: the store has 12 leaves, 11 were given"


# --- errors -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda log: log.inclusion_proof(-1, 5), id="negative-index"),
        pytest.param(lambda log: log.inclusion_proof(5, 5), id="index-at-size"),
        pytest.param(lambda log: log.inclusion_proof(0, 0), id="empty-tree"),
        pytest.param(lambda log: log.inclusion_proof(0, 11), id="size-beyond-log"),
        pytest.param(lambda log: log.consistency_proof(5, 4), id="old-after-new"),
        pytest.param(lambda log: log.consistency_proof(-1, 4), id="negative-old"),
        pytest.param(lambda log: log.consistency_proof(4, 11), id="new-beyond-log"),
        pytest.param(lambda log: log.root(11), id="root-beyond-log"),
        pytest.param(lambda log: log.root(-1), id="negative-root"),
        pytest.param(lambda log: log.append(b"short"), id="leaf-not-32-bytes"),
        pytest.param(lambda log: log.append(b"x" * 33), id="leaf-too-long"),
        pytest.param(lambda log: log.append_many([]), id="nothing-to-append"),
    ],
)
def test_out_of_range_arguments_are_refused(call: Callable[[MerkleLog], object]) -> None:
    log, store = build(10)
    before = dict(store.nodes)
    with pytest.raises(LogError) as caught:
        call(log)
    assert isinstance(caught.value, ValueError) and isinstance(caught.value, ConsentError)
    assert store.nodes == before and store.size() == 10


def test_a_store_missing_a_node_is_reported_not_papered_over() -> None:
    log, store = build(10)
    del store.nodes[(1, 1)]
    with pytest.raises(LogCorrupted):
        log.inclusion_proof(0, 10)


def test_the_memory_store_is_insert_only() -> None:
    _, store = build(4)
    with pytest.raises(LogError):
        store.put_nodes({(0, 1): b"\x00" * 32}, 5)
    with pytest.raises(LogError):
        store.put_nodes({}, 3)


def test_commitments_salt_the_canonical_event() -> None:
    event = {"purpose": "marketing.brand_view", "state": "given", "说明": "同意"}
    canonical = canonical_json(event)
    assert canonical == '{"purpose":"marketing.brand_view","state":"given","说明":"同意"}'.encode()
    assert canonical_json(dict(reversed(event.items()))) == canonical
    salt = bytes(range(32))
    assert event_commitment(salt, canonical) == sha256(salt + canonical)
    assert event_commitment(bytes(32), canonical) != event_commitment(salt, canonical)
    with pytest.raises(LogError):
        event_commitment(b"short salt", canonical)
    with pytest.raises(ValueError, match="JSON"):
        canonical_json({"x": float("nan")})


# --- random append sequences ------------------------------------------------------------


@settings(max_examples=30, deadline=None)
@given(
    st.lists(
        st.lists(st.binary(min_size=32, max_size=32), min_size=1, max_size=6),
        min_size=1,
        max_size=6,
    )
)
def test_every_proof_verifies_after_random_appends(batches: list[list[bytes]]) -> None:
    log = MerkleLog(MemoryNodeStore())
    leaves: list[bytes] = []
    for batch in batches:
        if len(batch) == 1:
            assert log.append(batch[0]) == len(leaves)
        else:
            assert log.append_many(batch) == len(leaves)
        leaves += batch
    roots = [log.root(n) for n in range(len(leaves) + 1)]
    assert roots[-1] == mth(leaves)
    for n in range(1, len(leaves) + 1):
        for m in range(n):
            proof = log.inclusion_proof(m, n)
            assert inclusion_verifies(leaves[m], m, n, proof, roots[n]), (m, n)
        for m in range(1, n + 1):
            proof = log.consistency_proof(m, n)
            assert consistency_verifies(m, n, roots[m], roots[n], proof), (m, n)


# --- checkpoints ------------------------------------------------------------------------

# The key of golang.org/x/mod/sumdb/note's tests ("PRIVATE+KEY+PeterNeumann+c74f20a3+…").
GO_SEED = base64.b64decode("AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz")[1:]
KEY = Ed25519PrivateKey.from_private_bytes(GO_SEED)
OTHER = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
ORIGIN = "accord.example/consent"
VKEY = verifier_key(ORIGIN, KEY.public_key())
ROOT = bytes(range(32))
NOTE = sign_checkpoint(Checkpoint(ORIGIN, 3, ROOT), ORIGIN, KEY)


def test_a_checkpoint_note_is_exactly_the_c2sp_format() -> None:
    assert NOTE == (
        "accord.example/consent\n"
        "3\n"
        "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n"
        "\n"
        "\u2014 accord.example/consent "
        "f1Ybd8kJIRR9+/dTJjt7vyH8hbUuvTUhQNUht/JZBJJjUVGiCmWCub/2qnjJVHLbiqdQgfYKAM4SNEBwbN7UJe6fQg0=\n"
    )
    assert VKEY == "accord.example/consent+7f561b77+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
    body, signature_line = NOTE.split("\n\n")
    dash, name, encoded = signature_line.removesuffix("\n").split(" ")
    assert (dash, name) == ("—", ORIGIN) and dash == "\N{EM DASH}"
    blob = base64.b64decode(encoded)
    public = KEY.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    assert blob[:4] == sha256(ORIGIN.encode() + b"\n\x01" + public)[:4] == bytes.fromhex("7f561b77")
    KEY.public_key().verify(blob[4:], (body + "\n").encode())


def test_signing_reproduces_the_go_reference_note() -> None:
    text = (
        "If you think cryptography is the answer to your problem,\n"
        "then you don't know what your problem is.\n"
    )
    go_note = (
        text + "\n\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FF"
        "YC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
    )
    go_vkey = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
    assert verifier_key("PeterNeumann", KEY.public_key()) == go_vkey
    assert sign_note(text, "PeterNeumann", KEY) == go_note
    assert open_note(go_note, go_vkey) == text


def test_sign_and_open_round_trip() -> None:
    checkpoint = Checkpoint(ORIGIN, 70, sha256(b"root"), ("extension one", "two"))
    note = sign_checkpoint(checkpoint, ORIGIN, KEY)
    assert open_checkpoint(note, VKEY) == checkpoint
    opened = merkle.open_checkpoint(note, VKEY)
    assert (opened.origin, opened.size, opened.root) == (ORIGIN, 70, checkpoint.root)
    assert opened.extensions == checkpoint.extensions
    assert open_checkpoint(NOTE, VKEY) == Checkpoint(ORIGIN, 3, ROOT)
    empty = sign_checkpoint(Checkpoint(ORIGIN, 0, EMPTY_ROOT), ORIGIN, KEY)
    assert open_checkpoint(empty, VKEY).size == 0


def test_signatures_by_unknown_keys_are_ignored() -> None:
    witness = sign_note("x\n", "witness.example", OTHER).split("\n\n")[1]
    assert open_checkpoint(NOTE + witness, VKEY) == Checkpoint(ORIGIN, 3, ROOT)
    assert open_checkpoint(NOTE.replace("\n\n", "\n\n" + witness), VKEY).size == 3
    # The same name under another key is another key (signed-note: name and ID together).
    assert open_checkpoint(NOTE + OTHER_NOTE.split("\n\n")[1], VKEY).size == 3
    assert merkle.open_checkpoint(NOTE + witness, VKEY).size == 3


ROOT_LINE = base64.b64encode(ROOT).decode()
BODY, SIGNATURE = NOTE.split("\n\n")  # BODY lacks its final newline; SIGNATURE ends in one
OTHER_NOTE = sign_checkpoint(Checkpoint(ORIGIN, 3, ROOT), ORIGIN, OTHER)
OTHER_VKEY = verifier_key(ORIGIN, OTHER.public_key())
BAD_COSIGNATURE = SIGNATURE.replace(ORIGIN, "witness+example")
BAD_OWN = sign_checkpoint(Checkpoint(ORIGIN, 4, ROOT), ORIGIN, KEY).split("\n\n")[1]


@pytest.mark.parametrize(
    ("note", "key"),
    [
        pytest.param(NOTE.replace("\n3\n", "\n4\n"), VKEY, id="modified-size"),
        pytest.param(NOTE.replace(ROOT_LINE, "B" + ROOT_LINE[1:]), VKEY, id="modified-root"),
        pytest.param(NOTE.replace(f"{ORIGIN}\n", "accord.example/x\n"), VKEY, id="modified-origin"),
        pytest.param(NOTE.replace("=\n\n", "=\nextra\n\n"), VKEY, id="added-extension"),
        pytest.param(NOTE, OTHER_VKEY, id="wrong-key"),
        pytest.param(NOTE, verifier_key("accord.example/x", KEY.public_key()), id="wrong-name"),
        pytest.param(OTHER_NOTE, VKEY, id="signed-by-another-key"),
        pytest.param(NOTE + BAD_OWN, VKEY, id="one-good-one-failing"),
        pytest.param(NOTE + BAD_COSIGNATURE, VKEY, id="malformed-cosignature"),
        pytest.param(BODY + "\n", VKEY, id="no-signature"),
        pytest.param(BODY + "\n\n", VKEY, id="empty-signature-block"),
        pytest.param(BODY + "\n" + SIGNATURE, VKEY, id="no-blank-line"),
        pytest.param(NOTE + "\n", VKEY, id="trailing-blank-line"),
        pytest.param(NOTE[:-1], VKEY, id="no-final-newline"),
        pytest.param(NOTE[:-1] + " \n", VKEY, id="trailing-space"),
        pytest.param(NOTE.replace("\u2014 ", " \u2014 "), VKEY, id="space-before-dash"),
        pytest.param(NOTE.replace("\u2014 ", "\u2014  "), VKEY, id="two-spaces-after-dash"),
        pytest.param(NOTE.replace(f"{ORIGIN} ", f"{ORIGIN}  "), VKEY, id="two-spaces-after-name"),
        pytest.param(NOTE.replace(f"{ORIGIN} ", ORIGIN), VKEY, id="no-space-after-name"),
        pytest.param(NOTE.replace("\u2014", "-"), VKEY, id="hyphen-not-em-dash"),
        pytest.param(NOTE.replace("\u2014", "\u2013"), VKEY, id="en-dash"),
        pytest.param(NOTE.replace("\n", "\r\n"), VKEY, id="crlf"),
        pytest.param(NOTE.replace("\n3\n", "\n3 \n"), VKEY, id="space-after-size"),
        pytest.param(NOTE.replace("\n3\n", "\n\t3\n"), VKEY, id="tab"),
        pytest.param(NOTE[:-2] + "\n", VKEY, id="signature-padding-dropped"),
        pytest.param(NOTE[:-6] + "\n", VKEY, id="signature-truncated"),
        pytest.param(NOTE + SIGNATURE * 100, VKEY, id="too-many-signatures"),
        pytest.param(NOTE.replace("accord", "\ud800", 1), VKEY, id="not-utf-8"),
        pytest.param(NOTE, VKEY.replace("+7f561b77+", "+7f561b78+"), id="verifier-id-mismatch"),
        pytest.param(NOTE, VKEY.replace("+ARpc", "+Ahpc"), id="verifier-not-ed25519"),
        pytest.param(NOTE, VKEY.rsplit("+", 1)[0], id="verifier-without-key"),
        pytest.param(NOTE, "a b" + VKEY[len(ORIGIN) :], id="verifier-name-with-space"),
    ],
)
def test_open_checkpoint_refuses(note: str, key: str) -> None:
    with pytest.raises(CheckpointError):
        open_checkpoint(note, key)
    with pytest.raises(merkle.CheckpointError):
        merkle.open_checkpoint(note, key)


def signed_text(text: str) -> str:
    """A note whose signature is good but whose text is no valid checkpoint."""
    return sign_note(text, ORIGIN, KEY)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(f"{ORIGIN}\n03\n{ROOT_LINE}\n", id="leading-zero"),
        pytest.param(f"{ORIGIN}\n+3\n{ROOT_LINE}\n", id="plus-sign"),
        pytest.param(f"{ORIGIN}\n-1\n{ROOT_LINE}\n", id="negative"),
        pytest.param(f"{ORIGIN}\n 3\n{ROOT_LINE}\n", id="space-before-size"),
        pytest.param(f"{ORIGIN}\n\u0663\n{ROOT_LINE}\n", id="arabic-indic-digit"),
        pytest.param(f"{ORIGIN}\n{2**64}\n{ROOT_LINE}\n", id="size-too-large"),
        pytest.param(f"{ORIGIN}\n3\n{ROOT_LINE[:-1]}\n", id="root-unpadded"),
        pytest.param(f"{ORIGIN}\n3\n{ROOT_LINE} \n", id="root-trailing-space"),
        pytest.param(f"{ORIGIN}\n3\n{ROOT_LINE[:-2]}9=\n", id="root-non-canonical"),
        pytest.param(f"{ORIGIN}\n3\n{base64.b64encode(bytes(31)).decode()}\n", id="root-short"),
        pytest.param(f" {ORIGIN}\n3\n{ROOT_LINE}\n", id="origin-leading-space"),
        pytest.param(f"{ORIGIN} \n3\n{ROOT_LINE}\n", id="origin-trailing-space"),
        pytest.param(f"\n3\n{ROOT_LINE}\n", id="empty-origin"),
        pytest.param(f"{ORIGIN}\n3\n", id="two-lines"),
        pytest.param(f"{ORIGIN}\n3\n{ROOT_LINE}\n\nextension\n", id="empty-extension-line"),
    ],
)
def test_a_well_signed_text_that_is_no_checkpoint_is_refused(text: str) -> None:
    note = signed_text(text)
    assert open_note(note, VKEY) == text  # the signature itself is good
    with pytest.raises(CheckpointError):
        open_checkpoint(note, VKEY)
    with pytest.raises(merkle.CheckpointError):
        merkle.open_checkpoint(note, VKEY)


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("", id="empty"),
        pytest.param("a b", id="space"),
        pytest.param("a+b", id="plus"),
        pytest.param("a\tb", id="tab"),
        pytest.param("a\u00a0b", id="no-break-space"),
        pytest.param("a\u3000b", id="ideographic-space"),
    ],
)
def test_invalid_key_names_are_refused(name: str) -> None:
    with pytest.raises(CheckpointError):
        verifier_key(name, KEY.public_key())
    with pytest.raises(CheckpointError):
        sign_checkpoint(Checkpoint(ORIGIN, 1, ROOT), name, KEY)


@pytest.mark.parametrize(
    "fields",
    [
        pytest.param(("", 1, ROOT, ()), id="empty-origin"),
        pytest.param((ORIGIN + "\n", 1, ROOT, ()), id="origin-with-newline"),
        pytest.param((ORIGIN, -1, ROOT, ()), id="negative-size"),
        pytest.param((ORIGIN, 2**64, ROOT, ()), id="size-too-large"),
        pytest.param((ORIGIN, 1, ROOT[:31], ()), id="short-root"),
        pytest.param((ORIGIN, 1, ROOT, ("",)), id="empty-extension"),
        pytest.param((ORIGIN, 1, ROOT, ("a\nb",)), id="extension-with-newline"),
    ],
)
def test_invalid_checkpoints_cannot_be_made(
    fields: tuple[str, int, bytes, tuple[str, ...]],
) -> None:
    with pytest.raises(CheckpointError):
        Checkpoint(*fields)


def test_a_checkpoint_signs_the_log_head() -> None:
    log, _ = build(70)
    note = sign_checkpoint(Checkpoint(ORIGIN, log.size(), log.root()), ORIGIN, KEY)
    head = merkle.open_checkpoint(note, VKEY)
    proof = log.inclusion_proof(42, head.size)
    assert merkle.verify_inclusion(LEAVES[42], 42, head.size, proof, head.root)
