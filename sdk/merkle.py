"""Check the gateway's consent log without trusting the gateway.

- :func:`verify_inclusion`: a consent event's commitment is leaf ``index`` of the tree
  of ``size`` leaves with root ``root`` (RFC 9162 §2.1.3.2).
- :func:`verify_consistency`: the tree of ``new_size`` leaves extends the tree of
  ``old_size`` leaves, so nothing logged was changed or dropped (RFC 9162 §2.1.4.2).
- :func:`open_checkpoint`: a signed tree head, a C2SP tlog-checkpoint in a C2SP signed
  note, verified with the log's Ed25519 verifier key.

Written from those specifications, independently of the gateway's code, so that a
mistake on one side is not silently mirrored on the other. The proof checks return
``False`` for anything that does not verify, malformed input included; the checkpoint
functions raise :class:`CheckpointError`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from sdk.errors import AccordError

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()  # RFC 9162 §2.1.1: the hash of the empty tree
_MAX_PROOF = 64  # a tree of fewer than 2**64 leaves needs no more (RFC 9162 §2.1.4.1: +1)
_MAX_SIGNATURES = 100  # signed-note: SHOULD bound, MUST accept at least 16
_EM_DASH = "\u2014 "
_SIZE = re.compile(r"0|[1-9][0-9]{0,19}")


class CheckpointError(AccordError, ValueError):
    """The note is malformed, carries no good signature by the key, or is no checkpoint."""


@dataclass(frozen=True)
class Checkpoint:
    """A verified tree head."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()


def leaf_hash(leaf_data: bytes) -> bytes:
    """RFC 9162 §2.1.1: HASH(0x00 || leaf data)."""
    return hashlib.sha256(b"\x00" + leaf_data).digest()


def _interior(left: bytes, right: bytes) -> bytes:
    # RFC 9162 §2.1.1: HASH(0x01 || left || right).
    return hashlib.sha256(b"\x01" + left + right).digest()


def _hashes_ok(*hashes: bytes) -> bool:
    return all(isinstance(h, bytes) and len(h) == HASH_SIZE for h in hashes)


def verify_inclusion(
    leaf_data: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """Whether ``leaf_data`` (an event commitment) is leaf ``index`` of the tree ``root``."""
    return verify_inclusion_of_hash(leaf_hash(leaf_data), index, size, proof, root)


def verify_inclusion_of_hash(
    hashed_leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """RFC 9162 §2.1.3.2, for a leaf already hashed with :func:`leaf_hash`."""
    if not 0 <= index < size or len(proof) > _MAX_PROOF:  # step 1
        return False
    if not _hashes_ok(hashed_leaf, root, *proof):
        return False
    fn, sn, r = index, size - 1, hashed_leaf  # steps 2 and 3
    for p in proof:  # step 4
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = _interior(p, r)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = _interior(r, p)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and hmac.compare_digest(r, root)  # step 5


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """Whether the tree ``new_root`` of ``new_size`` leaves extends the tree ``old_root``.

    RFC 9162 §2.1.4.2 covers 0 < old_size < new_size. Equal sizes need equal roots and
    an empty proof; the empty tree (old_size 0, root HASH()) is extended by every tree,
    with an empty proof.
    """
    if not 0 <= old_size <= new_size or len(proof) > _MAX_PROOF + 1:
        return False
    if not _hashes_ok(old_root, new_root, *proof):
        return False
    if old_size == 0:
        empty_ok = new_size > 0 or new_root == EMPTY_ROOT
        return not proof and old_root == EMPTY_ROOT and empty_ok
    if old_size == new_size:
        return not proof and hmac.compare_digest(old_root, new_root)
    return _consistent(old_size, new_size, old_root, new_root, proof)


def _consistent(
    first: int, second: int, first_hash: bytes, second_hash: bytes, proof: Sequence[bytes]
) -> bool:
    """RFC 9162 §2.1.4.2 steps 1 to 7, for 0 < first < second (the RFC's names)."""
    if not proof:  # step 1
        return False
    path = list(proof)
    if first & (first - 1) == 0:  # step 2: the old tree is a node of the new one
        path.insert(0, first_hash)
    fn, sn = first - 1, second - 1  # step 3
    while fn & 1:  # step 4
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]  # step 5
    for c in path[1:]:  # step 6
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = _interior(c, fr), _interior(c, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = _interior(sr, c)
        fn, sn = fn >> 1, sn >> 1
    # step 7
    return sn == 0 and hmac.compare_digest(fr, first_hash) and hmac.compare_digest(sr, second_hash)


def _strict_b64(text: str) -> bytes:
    """RFC 4648 §4 base64, accepting only the one canonical spelling."""
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except ValueError:
        raise CheckpointError("invalid base64") from None
    if base64.b64encode(raw).decode("ascii") != text:
        raise CheckpointError("non-canonical base64")
    return raw


def _valid_name(name: str) -> bool:
    # signed-note: key names are non-empty, without Unicode spaces or '+'.
    return bool(name) and not any(c.isspace() or c == "+" or ord(c) < 0x20 for c in name)


def _verifier(verifier_key: str) -> tuple[str, bytes, Ed25519PublicKey]:
    """Parse ``<name>+<hex key ID>+<base64(0x01 || Ed25519 public key)>``."""
    name, _, rest = verifier_key.partition("+")
    hex_id, _, encoded = rest.partition("+")
    if not _valid_name(name) or not re.fullmatch(r"[0-9a-fA-F]{8}", hex_id):
        raise CheckpointError("malformed verifier key")
    material = _strict_b64(encoded)
    if len(material) != 33 or material[0] != 0x01:
        raise CheckpointError("not an Ed25519 verifier key")
    key_id = bytes.fromhex(hex_id)
    # signed-note: key ID = SHA-256(key name || 0x0A || 0x01 || public key)[:4].
    if hashlib.sha256(name.encode() + b"\n" + material).digest()[:4] != key_id:
        raise CheckpointError("the verifier key's ID does not match its key")
    try:
        return name, key_id, Ed25519PublicKey.from_public_bytes(material[1:])
    except ValueError:
        raise CheckpointError("not an Ed25519 public key") from None


def open_note(note: str, verifier_key: str) -> str:
    """The text of a C2SP signed note, once a signature by ``verifier_key`` verifies.

    Signatures by other keys are ignored, as the spec requires; a signature by this key
    that fails rejects the note.
    """
    name, key_id, public_key = _verifier(verifier_key)
    if any(ord(c) < 0x20 and c != "\n" for c in note) or not note.endswith("\n"):
        raise CheckpointError("a signed note ends with a newline and has no control characters")
    try:
        note.encode("utf-8")
    except UnicodeEncodeError:
        raise CheckpointError("a signed note is valid UTF-8") from None
    # The text is separated from the signatures by the note's last blank line.
    text, blank, signatures = note.rpartition("\n\n")
    if not blank or not signatures:
        raise CheckpointError("the note carries no signature")
    text += "\n"
    lines = signatures.removesuffix("\n").split("\n")
    if len(lines) > _MAX_SIGNATURES:
        raise CheckpointError("the note carries too many signatures")
    good = False
    for line in lines:
        if not line.startswith(_EM_DASH):
            raise CheckpointError("malformed signature line")
        signer, space, encoded = line[len(_EM_DASH) :].partition(" ")
        if not space or not _valid_name(signer):
            raise CheckpointError("malformed signature line")
        blob = _strict_b64(encoded)
        if len(blob) < 5:
            raise CheckpointError("malformed signature line")
        if signer != name or blob[:4] != key_id:
            continue  # an unknown key: a cosigner, or a rotated key
        try:
            if len(blob) != 4 + 64:
                raise InvalidSignature
            public_key.verify(blob[4:], text.encode("utf-8"))
        except InvalidSignature:
            raise CheckpointError("a signature by the key does not verify") from None
        good = True
    if not good:
        raise CheckpointError(f"the note is not signed by {name}")
    return text


def open_checkpoint(note: str, verifier_key: str) -> Checkpoint:
    """The tree head in a signed C2SP tlog-checkpoint note, verified with ``verifier_key``.

    The caller should also check that ``origin`` names the log it expects.
    """
    text = open_note(note, verifier_key)
    # tlog-checkpoint: origin, tree size, base64 root hash, then optional extension
    # lines; every line is non-empty.
    lines = text.removesuffix("\n").split("\n")
    if len(lines) < 3 or not all(lines):
        raise CheckpointError("malformed checkpoint")
    origin, size, root_line, *extensions = lines
    if origin != origin.strip():
        raise CheckpointError("malformed checkpoint origin")
    if not _SIZE.fullmatch(size) or int(size) >= 2**64:
        raise CheckpointError("malformed checkpoint tree size")
    root = _strict_b64(root_line)
    if len(root) != HASH_SIZE:
        raise CheckpointError("malformed checkpoint root hash")
    return Checkpoint(origin, int(size), root, tuple(extensions))
