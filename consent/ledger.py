"""The consent log: an append-only Merkle tree of consent events (RFC 9162 §2.1).

Every consent event is one leaf, and a leaf holds a 32-byte *commitment*, a salted hash of
the canonical event (:func:`event_commitment`), never personal data: forgetting the salt
on erasure unlinks the leaf from the person while every root and proof stays valid.

Storage (:class:`NodeStore`) holds only *perfect* subtrees, keyed ``(level, index)``: node
``(L, i)`` is the hash of leaves ``[i * 2**L, (i + 1) * 2**L)``, level 0 being the leaf
hashes. A perfect subtree is complete when written and never changes, so rows are
insert-only, and the tree head and every proof for any past size is a fold of O(log n) of
them. The log first works out which keys it needs (a pure function of index and sizes),
reads them with one ``get_nodes`` batch, then assembles the answer.

Appends must be serialised by the caller (one writer at a time, e.g. under a row lock on
the stored size): two concurrent appends would both extend the same size.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Collection, Mapping, Sequence
from typing import Protocol

from consent.errors import LogCorrupted, LogError

NodeKey = tuple[int, int]  # (L, i): the perfect subtree over leaves [i * 2**L, (i + 1) * 2**L)

HASH_SIZE = 32
LEAF_SIZE = 32  # a leaf is always an event commitment, never the event itself
SALT_SIZE = 32  # fixed, so that salt || event splits in exactly one way
EMPTY_ROOT = hashlib.sha256(b"").digest()  # RFC 9162 §2.1.1: MTH({}) = HASH()
_AUDIT_BATCH = 4096


def canonical_json(obj: object) -> bytes:
    """The canonical bytes of a JSON value: sorted keys, no whitespace, UTF-8 (not escaped)."""
    text = json.dumps(
        obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )
    return text.encode("utf-8")


def event_commitment(salt: bytes, canonical_event: bytes) -> bytes:
    """The leaf data for one event: SHA-256(salt || canonical event), with a 32-byte salt."""
    if len(salt) != SALT_SIZE:
        raise LogError(f"the salt must be {SALT_SIZE} bytes, not {len(salt)}")
    return hashlib.sha256(salt + canonical_event).digest()


def leaf_hash(leaf_data: bytes) -> bytes:
    """RFC 9162 §2.1.1: MTH({d(0)}) = HASH(0x00 || d(0))."""
    return hashlib.sha256(b"\x00" + leaf_data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 9162 §2.1.1: an interior node is HASH(0x01 || left || right)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


class NodeStore(Protocol):
    """Where the log keeps its perfect subtrees; see the module docstring for the keys."""

    def size(self) -> int:
        """The number of leaves."""
        ...

    def get_nodes(self, keys: Collection[NodeKey]) -> dict[NodeKey, bytes]:
        """The stored nodes among ``keys`` (one batched read); absent keys are left out."""
        ...

    def put_nodes(self, nodes: Mapping[NodeKey, bytes], new_size: int) -> None:
        """Write new nodes and the new size together (one transaction, insert-only)."""
        ...


class MemoryNodeStore:
    """A dict-backed :class:`NodeStore` for tests and in-process logs."""

    def __init__(self) -> None:
        self.nodes: dict[NodeKey, bytes] = {}
        self._size = 0

    def size(self) -> int:
        return self._size

    def get_nodes(self, keys: Collection[NodeKey]) -> dict[NodeKey, bytes]:
        return {key: self.nodes[key] for key in keys if key in self.nodes}

    def put_nodes(self, nodes: Mapping[NodeKey, bytes], new_size: int) -> None:
        if new_size < self._size:
            raise LogError(f"the log cannot shrink from {self._size} to {new_size}")
        for key, value in nodes.items():
            if self.nodes.get(key, value) != value:
                raise LogError(f"node {key} is already written")  # perfect nodes never change
        self.nodes.update(nodes)
        self._size = new_size


# The planning functions below are pure: they name the perfect subtrees a request needs.


def _split(n: int) -> int:
    """RFC 9162 §2.1.1's k: the largest power of two smaller than n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def perfect_cover(start: int, end: int) -> list[NodeKey]:
    """The perfect subtrees whose right fold is MTH(D[start:end]), largest first.

    Valid for every range MTH's recursion produces, where ``start`` is aligned to a
    power of two no smaller than ``end - start``: MTH splits off the largest perfect
    subtree on the left and recurses on the rest (RFC 9162 §2.1.1).
    """
    keys: list[NodeKey] = []
    while start < end:
        width = 1 << ((end - start).bit_length() - 1)
        if start:
            width = min(width, start & -start)
        level = width.bit_length() - 1
        keys.append((level, start >> level))
        start += width
    return keys


def _inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """The leaf ranges whose MTHs form PATH(index, D[0:size]) (RFC 9162 §2.1.3.1), in order."""
    ranges: list[tuple[int, int]] = []
    start, end = 0, size
    while end - start > 1:
        k = _split(end - start)
        if index < start + k:  # PATH(m, D[0:k]) : MTH(D[k:n])
            ranges.append((start + k, end))
            end = start + k
        else:  # PATH(m - k, D[k:n]) : MTH(D[0:k])
            ranges.append((start, start + k))
            start += k
    ranges.reverse()  # the recursion lists the deepest sibling first
    return ranges


def _consistency_ranges(old_size: int, new_size: int) -> list[tuple[int, int]]:
    """The leaf ranges whose MTHs form PROOF(m, D[0:n]) (RFC 9162 §2.1.4.1), in order."""
    ranges: list[tuple[int, int]] = []
    start, end, whole_old_tree = 0, new_size, True  # SUBPROOF's b
    while old_size != end:
        k = _split(end - start)
        if old_size <= start + k:  # SUBPROOF(m, D[0:k], b) : MTH(D[k:n])
            ranges.append((start + k, end))
            end = start + k
        else:  # SUBPROOF(m - k, D[k:n], false) : MTH(D[0:k])
            ranges.append((start, start + k))
            start += k
            whole_old_tree = False
    if not whole_old_tree:  # SUBPROOF(m, D[m], false) = {MTH(D[m])}
        ranges.append((start, end))
    ranges.reverse()
    return ranges


def inclusion_keys(index: int, size: int) -> set[NodeKey]:
    """Every stored node that ``inclusion_proof(index, size)`` reads."""
    return {key for r in _inclusion_ranges(index, size) for key in perfect_cover(*r)}


def consistency_keys(old_size: int, new_size: int) -> set[NodeKey]:
    """Every stored node that ``consistency_proof(old_size, new_size)`` reads."""
    if old_size == 0:
        return set()
    ranges = _consistency_ranges(old_size, new_size)
    return {key for r in ranges for key in perfect_cover(*r)}


def _fold(hashes: Sequence[bytes]) -> bytes:
    result = hashes[-1]
    for left in reversed(hashes[:-1]):
        result = node_hash(left, result)
    return result


class MerkleLog:
    """The consent log over a :class:`NodeStore`; appends are serialised by the caller."""

    def __init__(self, store: NodeStore) -> None:
        self._store = store

    def size(self) -> int:
        return self._store.size()

    def append(self, leaf_data: bytes) -> int:
        """Append one leaf; returns its index."""
        return self.append_many([leaf_data])

    def append_many(self, leaf_datas: Sequence[bytes]) -> int:
        """Append leaves in order; returns the first one's index.

        Reads the right-edge siblings the new nodes need in one batch and writes every
        newly completed perfect subtree, with the new size, in one ``put_nodes``.
        """
        if not leaf_datas:
            raise LogError("nothing to append")
        for data in leaf_datas:
            if len(data) != LEAF_SIZE:
                raise LogError(f"a leaf is a {LEAF_SIZE}-byte event commitment")
        old = self._store.size()
        total = old + len(leaf_datas)
        new = {(0, old + j): leaf_hash(data) for j, data in enumerate(leaf_datas)}
        # The first new node of level L has an old left child exactly when bit L-1 of the
        # old size is set: that child is one of the perfect subtrees covering D[0:old].
        edge = [
            (level - 1, (old >> (level - 1)) - 1)
            for level in range(1, total.bit_length())
            if (old >> (level - 1)) & 1 and (old >> level) < (total >> level)
        ]
        known = self._read(edge) if edge else {}
        for level in range(1, total.bit_length()):
            for i in range(old >> level, total >> level):
                left, right = (level - 1, 2 * i), (level - 1, 2 * i + 1)
                new[(level, i)] = node_hash(new.get(left) or known[left], new[right])
        self._store.put_nodes(new, total)
        return old

    def root(self, size: int | None = None) -> bytes:
        """The tree head MTH(D[0:size]) for any size up to the current one (default)."""
        current = self._store.size()
        size = current if size is None else size
        if not 0 <= size <= current:
            raise LogError(f"size {size} is outside 0..{current}")
        if size == 0:
            return EMPTY_ROOT
        return self._hash_ranges([(0, size)])[0]

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        """PATH(index, D[0:size]) per RFC 9162 §2.1.3.1."""
        current = self._store.size()
        if not 0 < size <= current:
            raise LogError(f"size {size} is outside 1..{current}")
        if not 0 <= index < size:
            raise LogError(f"index {index} is outside 0..{size - 1}")
        return self._hash_ranges(_inclusion_ranges(index, size))

    def consistency_proof(self, old_size: int, new_size: int) -> list[bytes]:
        """PROOF(old_size, D[0:new_size]) per RFC 9162 §2.1.4.1.

        RFC 9162 defines the proof for 0 < old_size <= new_size; from the empty tree,
        which every tree extends, the proof is empty.
        """
        current = self._store.size()
        if not 0 <= old_size <= new_size <= current:
            raise LogError(f"sizes {old_size}, {new_size} are not ordered within 0..{current}")
        if old_size == 0:
            return []
        return self._hash_ranges(_consistency_ranges(old_size, new_size))

    def _hash_ranges(self, ranges: Sequence[tuple[int, int]]) -> list[bytes]:
        covers = [perfect_cover(start, end) for start, end in ranges]
        keys = {key for cover in covers for key in cover}
        nodes = self._read(keys) if keys else {}
        return [_fold([nodes[key] for key in cover]) for cover in covers]

    def _read(self, keys: Collection[NodeKey]) -> dict[NodeKey, bytes]:
        nodes = self._store.get_nodes(keys)
        missing = sorted(set(keys) - nodes.keys())
        if missing:
            raise LogCorrupted(f"the store lacks nodes {missing}")
        return nodes


def audit(store: NodeStore, leaf_datas: Sequence[bytes]) -> list[str]:
    """Recompute every stored node from the leaf data; one line per node that differs.

    An empty list means the store holds exactly the tree of ``leaf_datas``. Tampering
    with a leaf hash, an interior node or the leaf data itself is named by node key.
    """
    problems: list[str] = []
    size = store.size()
    if size != len(leaf_datas):
        problems.append(f"size: the store has {size} leaves, {len(leaf_datas)} were given")
    hashes = [leaf_hash(data) for data in leaf_datas]
    level = 0
    while hashes:
        for offset in range(0, len(hashes), _AUDIT_BATCH):
            keys = [(level, i) for i in range(offset, min(offset + _AUDIT_BATCH, len(hashes)))]
            stored = store.get_nodes(keys)
            for key in keys:
                found = stored.get(key)
                if found is None:
                    problems.append(f"node {key}: missing")
                elif not hmac.compare_digest(found, hashes[key[1]]):
                    problems.append(f"node {key}: stored hash differs")
        hashes = [node_hash(hashes[i], hashes[i + 1]) for i in range(0, len(hashes) - 1, 2)]
        level += 1
    return problems
