"""Signed tree heads: C2SP tlog-checkpoint bodies in C2SP signed notes, signed with Ed25519.

A checkpoint note reads (c2sp.org/tlog-checkpoint, c2sp.org/signed-note)::

    <origin>
    <tree size, ASCII decimal>
    <root hash, standard base64>
    [<extension line>...]

    — <key name> <base64(4-byte key ID || 64-byte Ed25519 signature)>

The signature covers exactly the text above the blank line, final newline included.
Parsing is strict: anything that is not byte for byte what :func:`sign_checkpoint`
would write (stray spaces, CR, padding quirks, leading zeros) is refused.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from consent.errors import CheckpointError

SIGNATURE_PREFIX = "\u2014 "  # EM DASH, SPACE (signed-note "Format")
ED25519 = b"\x01"  # signed-note signature type for Ed25519
MAX_SIGNATURES = 100  # signed-note: verifiers SHOULD bound the count, MUST accept 16
MAX_TREE_SIZE = 2**64 - 1
_DECIMAL = re.compile(r"0|[1-9][0-9]{0,19}")  # tlog-checkpoint: no leading zeroes
_KEY_ID_HEX = re.compile(r"[0-9a-fA-F]{8}")


def _has_control(text: str) -> bool:
    # signed-note: no ASCII control characters other than newline.
    return any(ord(c) < 0x20 and c != "\n" for c in text)


def _check_name(name: str) -> None:
    # signed-note: non-empty, no Unicode spaces, no '+'.
    if not name or _has_control(name) or any(c.isspace() or c == "+" for c in name):
        raise CheckpointError(f"invalid key name {name!r}")


def _b64decode(text: str) -> bytes:
    """Standard base64, canonical only (padding present, no stray bits or characters)."""
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except ValueError:
        raise CheckpointError("invalid base64") from None
    if base64.b64encode(raw).decode("ascii") != text:
        raise CheckpointError("non-canonical base64")
    return raw


def _raw_public(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)


@dataclass(frozen=True)
class Checkpoint:
    """A tree head: the log's origin, its size and root hash, and opaque extension lines."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # tlog-checkpoint "Note text": non-empty lines; we also refuse edge whitespace.
        if not self.origin or self.origin.strip() != self.origin or _has_control(self.origin):
            raise CheckpointError(f"invalid origin {self.origin!r}")
        if not 0 <= self.size <= MAX_TREE_SIZE:
            raise CheckpointError(f"tree size {self.size} is out of range")
        if len(self.root) != 32:
            raise CheckpointError("the root hash must be 32 bytes")
        for line in self.extensions:
            if not line or "\n" in line or _has_control(line):
                raise CheckpointError(f"invalid extension line {line!r}")

    def text(self) -> str:
        """The note text (the signed body)."""
        root = base64.b64encode(self.root).decode("ascii")
        return "".join(
            f"{line}\n" for line in (self.origin, str(self.size), root, *self.extensions)
        )

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        """Read a note text written by :meth:`text`."""
        if not text.endswith("\n"):
            raise CheckpointError("a checkpoint ends with a newline")
        lines = text[:-1].split("\n")
        if len(lines) < 3:
            raise CheckpointError("a checkpoint has at least three lines")
        origin, size, root, *extensions = lines
        if not _DECIMAL.fullmatch(size):
            raise CheckpointError(f"invalid tree size {size!r}")
        return cls(origin, int(size), _b64decode(root), tuple(extensions))


def key_id(name: str, public_key: Ed25519PublicKey) -> bytes:
    """signed-note: SHA-256(key name || 0x0A || 0x01 || 32-byte public key)[:4]."""
    _check_name(name)
    return hashlib.sha256(name.encode() + b"\n" + ED25519 + _raw_public(public_key)).digest()[:4]


def verifier_key(name: str, public_key: Ed25519PublicKey) -> str:
    """The verifier key string ``<name>+<8 hex key ID>+<base64(0x01 || public key)>``."""
    encoded = base64.b64encode(ED25519 + _raw_public(public_key)).decode("ascii")
    return f"{name}+{key_id(name, public_key).hex()}+{encoded}"


def _parse_verifier_key(verifier: str) -> tuple[str, bytes, Ed25519PublicKey]:
    parts = verifier.split("+", 2)  # the base64 key may itself contain '+'
    if len(parts) != 3:
        raise CheckpointError("a verifier key is <name>+<key id>+<key>")
    name, hex_id, encoded = parts
    _check_name(name)
    raw = _b64decode(encoded)
    if not _KEY_ID_HEX.fullmatch(hex_id) or len(raw) != 33 or raw[:1] != ED25519:
        raise CheckpointError("not an Ed25519 verifier key")
    try:
        public_key = Ed25519PublicKey.from_public_bytes(raw[1:])
    except ValueError:
        raise CheckpointError("not an Ed25519 public key") from None
    if key_id(name, public_key) != bytes.fromhex(hex_id):
        raise CheckpointError("the verifier key's ID does not match its key")
    return name, bytes.fromhex(hex_id), public_key


def _check_text(text: str) -> bytes:
    if not text.endswith("\n") or _has_control(text):
        raise CheckpointError("a note text ends with a newline and has no control characters")
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        raise CheckpointError("a note is valid UTF-8") from None


def sign_note(text: str, name: str, private_key: Ed25519PrivateKey) -> str:
    """A signed note of ``text`` with one Ed25519 signature line."""
    body = _check_text(text)
    blob = key_id(name, private_key.public_key()) + private_key.sign(body)
    return f"{text}\n{SIGNATURE_PREFIX}{name} {base64.b64encode(blob).decode('ascii')}\n"


def open_note(note: str, verifier_key: str) -> str:
    """The text of ``note`` once a signature by ``verifier_key`` verifies.

    Signatures by other keys are ignored, as signed-note requires (cosigners, key
    rotation); a failing signature by the expected key rejects the whole note.
    """
    name, expected_id, public_key = _parse_verifier_key(verifier_key)
    _check_text(note)
    cut = note.rfind("\n\n")  # the last blank line separates text and signatures
    if cut < 0:
        raise CheckpointError("the note has no signature block")
    text, block = note[: cut + 1], note[cut + 2 :]
    lines = block.split("\n")[:-1]  # _check_text made sure the note ends with "\n"
    if not lines:
        raise CheckpointError("the note has no signature")
    if len(lines) > MAX_SIGNATURES:
        raise CheckpointError("the note has too many signatures")
    verified = False
    for line in lines:
        signer, sep, encoded = line.removeprefix(SIGNATURE_PREFIX).partition(" ")
        if not line.startswith(SIGNATURE_PREFIX) or not sep:
            raise CheckpointError("malformed signature line")
        _check_name(signer)
        blob = _b64decode(encoded)
        if len(blob) < 5:
            raise CheckpointError("malformed signature")
        if (signer, blob[:4]) != (name, expected_id):
            continue
        try:
            if len(blob) != 4 + 64:
                raise InvalidSignature
            public_key.verify(blob[4:], text.encode("utf-8"))
        except InvalidSignature:
            raise CheckpointError("the signature does not verify") from None
        verified = True
    if not verified:
        raise CheckpointError(f"the note is not signed by {name}")
    return text


def sign_checkpoint(checkpoint: Checkpoint, name: str, private_key: Ed25519PrivateKey) -> str:
    """The signed checkpoint note; the key name SHOULD be the origin (tlog-checkpoint)."""
    return sign_note(checkpoint.text(), name, private_key)


def open_checkpoint(note: str, verifier_key: str) -> Checkpoint:
    """The checkpoint in ``note``, once its signature by ``verifier_key`` verifies."""
    return Checkpoint.parse(open_note(note, verifier_key))
