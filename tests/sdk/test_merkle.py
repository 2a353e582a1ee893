"""The SDK's log verifier: hand-computed trees, published vectors, and the gateway's log."""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from consent.checkpoint import Checkpoint, sign_checkpoint, sign_note, verifier_key
from consent.ledger import MemoryNodeStore, MerkleLog
from sdk import merkle
from sdk.errors import AccordError


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def leaf(data: bytes) -> bytes:
    return sha256(b"\x00" + data)


def node(left: bytes, right: bytes) -> bytes:
    return sha256(b"\x01" + left + right)


# --- the example tree of RFC 6962 §2.1.3, by hand ----------------------------------------
#
#             hash
#            /    \
#           k      l
#          / \    / \
#         g   h  i   j
#        / \ / \ / \ |
#        a b c d e f d6
D = [b"d0", b"d1", b"d2", b"d3", b"d4", b"d5", b"d6"]
a, b, c, d, e, f, j = (leaf(x) for x in D)
g, h, i = node(a, b), node(c, d), node(e, f)
k, l = node(g, h), node(i, j)  # noqa: E741 - the RFC's name
ROOT7 = node(k, l)
ROOT3 = node(g, c)
ROOT6 = node(k, i)


def test_leaf_hash_is_rfc_9162() -> None:
    assert merkle.leaf_hash(b"d0") == a
    assert merkle.leaf_hash(b"") == bytes.fromhex(
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    )


@pytest.mark.parametrize(
    ("index", "size", "proof", "root"),
    [
        pytest.param(0, 1, [], a, id="size-1"),
        pytest.param(0, 2, [b], g, id="size-2-left"),
        pytest.param(1, 2, [a], g, id="size-2-right"),
        pytest.param(0, 3, [b, c], ROOT3, id="size-3-first"),
        pytest.param(1, 3, [a, c], ROOT3, id="size-3-second"),
        pytest.param(2, 3, [g], ROOT3, id="size-3-last"),
        pytest.param(0, 7, [b, h, l], ROOT7, id="rfc-d0"),
        pytest.param(3, 7, [c, g, l], ROOT7, id="rfc-d3"),
        pytest.param(4, 7, [f, j, k], ROOT7, id="rfc-d4"),
        pytest.param(6, 7, [i, k], ROOT7, id="rfc-d6"),
    ],
)
def test_hand_computed_inclusion(index: int, size: int, proof: list[bytes], root: bytes) -> None:
    assert merkle.verify_inclusion(D[index], index, size, proof, root)
    assert merkle.verify_inclusion_of_hash(leaf(D[index]), index, size, proof, root)
    other = (index + 1) % size
    if other != index:
        assert not merkle.verify_inclusion(D[other], index, size, proof, root)
        assert not merkle.verify_inclusion(D[index], other, size, proof, root)
    assert not merkle.verify_inclusion(D[index], index, size, proof, sha256(b"wrong"))


@pytest.mark.parametrize(
    ("old_size", "old_root", "proof"),
    [
        pytest.param(1, a, [b, h, l], id="1-to-7"),
        pytest.param(2, g, [h, l], id="2-to-7"),
        pytest.param(3, ROOT3, [c, d, g, l], id="rfc-3-to-7"),
        pytest.param(4, k, [l], id="rfc-4-to-7"),
        pytest.param(6, ROOT6, [i, j, k], id="rfc-6-to-7"),
        pytest.param(7, ROOT7, [], id="7-to-7"),
        pytest.param(0, sha256(b""), [], id="empty-to-7"),
    ],
)
def test_hand_computed_consistency(old_size: int, old_root: bytes, proof: list[bytes]) -> None:
    assert merkle.verify_consistency(old_size, 7, old_root, ROOT7, proof)
    if old_size:  # the empty tree is extended by every tree: nothing more to check
        assert not merkle.verify_consistency(old_size, 7, old_root, ROOT6, proof)
        assert not merkle.verify_consistency(old_size, 7, sha256(b"wrong"), ROOT7, proof)


def test_small_consistency_by_hand() -> None:
    assert merkle.verify_consistency(1, 2, a, g, [b])
    assert merkle.verify_consistency(2, 3, g, ROOT3, [c])
    assert merkle.verify_consistency(1, 3, a, ROOT3, [b, c])
    assert not merkle.verify_consistency(1, 3, b, ROOT3, [b, c])


# --- the RFC 6962 test vectors of certificate-transparency (leaves of any length) --------

CT_LEAVES = [bytes.fromhex(x) for x in ("", "00", "10", "2021", "3031", "40414243")]
CT_LEAVES += [bytes.fromhex("5051525354555657"), bytes.fromhex("606162636465666768696a6b6c6d6e6f")]
CT_ROOTS = [
    bytes.fromhex(x)
    for x in (
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    )
]


def hexes(*values: str) -> list[bytes]:
    return [bytes.fromhex(v) for v in values]


def test_certificate_transparency_vectors() -> None:
    proof = hexes(
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    )
    assert merkle.verify_inclusion(CT_LEAVES[5], 5, 8, proof, CT_ROOTS[7])
    assert not merkle.verify_inclusion(CT_LEAVES[5], 4, 8, proof, CT_ROOTS[7])
    assert merkle.verify_inclusion(CT_LEAVES[2], 2, 3, [CT_ROOTS[1]], CT_ROOTS[2])
    assert merkle.verify_inclusion(CT_LEAVES[0], 0, 1, [], CT_ROOTS[0])
    consistency = hexes(
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    )
    assert merkle.verify_consistency(6, 8, CT_ROOTS[5], CT_ROOTS[7], consistency)
    assert not merkle.verify_consistency(6, 8, CT_ROOTS[4], CT_ROOTS[7], consistency)
    two_to_five = hexes(
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    )
    assert merkle.verify_consistency(2, 5, CT_ROOTS[1], CT_ROOTS[4], two_to_five)


# --- rejection ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("index", "size", "proof", "root"),
    [
        pytest.param(-1, 7, [b, h, l], ROOT7, id="negative-index"),
        pytest.param(7, 7, [b, h, l], ROOT7, id="index-at-size"),
        pytest.param(0, 0, [], ROOT7, id="empty-tree"),
        pytest.param(0, 7, [b, h], ROOT7, id="truncated"),
        pytest.param(0, 7, [b, h, l, l], ROOT7, id="extended"),
        pytest.param(0, 7, [b, l, h], ROOT7, id="reordered"),
        pytest.param(0, 7, [b, h, l[:31]], ROOT7, id="short-element"),
        pytest.param(0, 7, [b, h, l + b"\x00"], ROOT7, id="long-element"),
        pytest.param(0, 7, [b, h, l], ROOT7[:31], id="short-root"),
        pytest.param(0, 7, [b] * 100, ROOT7, id="absurdly-long"),
        pytest.param(0, 1, [b], a, id="size-1-with-a-proof"),
    ],
)
def test_inclusion_rejects(index: int, size: int, proof: list[bytes], root: bytes) -> None:
    assert merkle.verify_inclusion(b"d0", index, size, proof, root) is False


@pytest.mark.parametrize(
    ("old_size", "new_size", "old_root", "new_root", "proof"),
    [
        pytest.param(3, 7, ROOT3, ROOT7, [], id="empty-proof"),
        pytest.param(3, 7, ROOT3, ROOT7, [c, d, g], id="truncated"),
        pytest.param(3, 7, ROOT3, ROOT7, [c, d, g, l, l], id="extended"),
        pytest.param(3, 7, ROOT3, ROOT7, [d, c, g, l], id="reordered"),
        pytest.param(4, 7, k, ROOT7, [k, l], id="old-root-repeated"),
        pytest.param(7, 3, ROOT7, ROOT3, [c, d, g, l], id="shrinking"),
        pytest.param(-1, 7, ROOT3, ROOT7, [c, d, g, l], id="negative-size"),
        pytest.param(7, 7, ROOT7, ROOT7, [l], id="equal-sizes-with-a-proof"),
        pytest.param(7, 7, ROOT7, ROOT6, [], id="equal-sizes-other-root"),
        pytest.param(0, 7, ROOT3, ROOT7, [], id="empty-tree-wrong-root"),
        pytest.param(0, 7, sha256(b""), ROOT7, [l], id="empty-tree-with-a-proof"),
        pytest.param(0, 0, ROOT3, ROOT3, [], id="two-empty-trees-wrong-root"),
        pytest.param(3, 7, ROOT3, ROOT7, [c, d, g, l[:31]], id="short-element"),
        pytest.param(3, 7, ROOT3[:31], ROOT7, [c, d, g, l], id="short-root"),
    ],
)
def test_consistency_rejects(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: list[bytes]
) -> None:
    assert merkle.verify_consistency(old_size, new_size, old_root, new_root, proof) is False


# --- against the gateway's log -----------------------------------------------------------

EVENTS = [sha256(b"event %d" % n) for n in range(100)]


@pytest.fixture(scope="module")
def log() -> MerkleLog:
    log = MerkleLog(MemoryNodeStore())
    log.append_many(EVENTS[:37])
    for event in EVENTS[37:]:
        log.append(event)
    return log


def test_proofs_from_the_ledger_verify(log: MerkleLog) -> None:
    for size in (1, 2, 3, 7, 8, 31, 64, 99, 100):
        root = log.root(size)
        for index in range(size):
            proof = log.inclusion_proof(index, size)
            assert merkle.verify_inclusion(EVENTS[index], index, size, proof, root)
            assert not merkle.verify_inclusion(EVENTS[index], index, size, proof, log.root(0))
        for old in range(size + 1):
            proof = log.consistency_proof(old, size)
            assert merkle.verify_consistency(old, size, log.root(old), root, proof)
            if 0 < old < size:
                assert not merkle.verify_consistency(old, size, root, root, proof)


KEY = Ed25519PrivateKey.from_private_bytes(sha256(b"test log key"))
ORIGIN = "log.accord.example/consent"
VKEY = verifier_key(ORIGIN, KEY.public_key())


def test_checkpoints_from_the_ledger_open(log: MerkleLog) -> None:
    note = sign_checkpoint(Checkpoint(ORIGIN, 100, log.root(), ("ext",)), ORIGIN, KEY)
    head = merkle.open_checkpoint(note, VKEY)
    assert head == merkle.Checkpoint(ORIGIN, 100, log.root(), ("ext",))
    old = merkle.open_checkpoint(
        sign_checkpoint(Checkpoint(ORIGIN, 64, log.root(64)), ORIGIN, KEY), VKEY
    )
    proof = log.consistency_proof(old.size, head.size)
    assert merkle.verify_consistency(old.size, head.size, old.root, head.root, proof)


def test_the_go_reference_note_opens() -> None:
    text = (
        "If you think cryptography is the answer to your problem,\n"
        "then you don't know what your problem is.\n"
    )
    note = (
        text + "\n\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FF"
        "YC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
    )
    vkey = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
    assert merkle.open_note(note, vkey) == text
    with pytest.raises(merkle.CheckpointError):
        merkle.open_note(note.replace("cryptography", "cryptographY"), vkey)
    with pytest.raises(merkle.CheckpointError):
        merkle.open_checkpoint(note, vkey)  # a good note, but no checkpoint


NOTE = sign_checkpoint(Checkpoint(ORIGIN, 5, sha256(b"root")), ORIGIN, KEY)


@pytest.mark.parametrize(
    ("note", "key"),
    [
        pytest.param(NOTE.replace("\n5\n", "\n6\n"), VKEY, id="modified-size"),
        pytest.param(
            NOTE, verifier_key(ORIGIN, Ed25519PrivateKey.generate().public_key()), id="wrong-key"
        ),
        pytest.param(sign_note("x\n", ORIGIN, KEY), VKEY, id="not-a-checkpoint"),
        pytest.param(NOTE.split("\n\n")[0] + "\n", VKEY, id="unsigned"),
        pytest.param(NOTE, VKEY.replace("+", "++", 1), id="verifier-empty-id"),
        pytest.param(NOTE, VKEY[: VKEY.index("+") + 9] + "+AQ==", id="verifier-short-key"),
        pytest.param(NOTE, VKEY.upper(), id="verifier-mangled"),
        pytest.param(NOTE, "", id="verifier-empty"),
    ],
)
def test_open_checkpoint_rejects(note: str, key: str) -> None:
    with pytest.raises(merkle.CheckpointError) as caught:
        merkle.open_checkpoint(note, key)
    assert isinstance(caught.value, AccordError) and isinstance(caught.value, ValueError)


def test_signatures_by_other_keys_are_ignored() -> None:
    impostor = Ed25519PrivateKey.from_private_bytes(sha256(b"impostor"))
    same_name = sign_note("x\n", ORIGIN, impostor).split("\n\n")[1]  # another key ID
    witness = sign_note("x\n", "witness.example", impostor).split("\n\n")[1]
    assert merkle.open_checkpoint(NOTE + same_name + witness, VKEY).size == 5
    assert merkle.open_checkpoint(NOTE.replace("\n\n", "\n\n" + same_name), VKEY).size == 5


def test_a_verifier_key_with_upper_case_hex_is_the_same_key() -> None:
    name, hex_id, material = VKEY.split("+", 2)
    same = f"{name}+{hex_id.upper()}+{material}"
    assert merkle.open_checkpoint(NOTE, same).size == 5
    assert base64.b64decode(material)[0] == 0x01
