"""Signing keys: JWS keys (ES256 by default, RS256 for old clients) with rotation, and
the Ed25519 key that signs the consent log's checkpoints.

Keys live in ``ACCORD_KEY_DIR`` as private JWK files readable by the owner only:
``jws/<kid>.json`` and ``log/ed25519.json``; they are generated on first use. A JWS
key is *published* (in the JWKS) from its creation until ``retire_at``, and *signs*
from ``active_from``; rotating creates a key that starts signing after an overlap
window, so verifiers have fetched it before they meet it, and retires the old key
only once tokens it signed can no longer be valid.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from gateway.db import utcnow

ALGORITHMS = ("ES256", "RS256")
DEFAULT_OVERLAP = timedelta(hours=24)


@dataclass(frozen=True)
class SigningKey:
    kid: str
    alg: str
    private_jwk: dict[str, Any]
    created_at: datetime
    active_from: datetime
    retire_at: datetime | None

    @property
    def public_jwk(self) -> dict[str, Any]:
        return {**public_part(self.private_jwk), "kid": self.kid, "alg": self.alg, "use": "sig"}

    def signer(self) -> Any:
        return self._signer

    @cached_property
    def _signer(self) -> Any:  # parsed once per key: parsing costs more than signing
        return jwt.PyJWK(self.private_jwk, algorithm=self.alg).key

    @cached_property
    def verifier(self) -> Any:
        return jwt.PyJWK(self.public_jwk, algorithm=self.alg).key


def public_part(jwk: dict[str, Any]) -> dict[str, Any]:
    """A private JWK without its private members (RFC 7518 §6.2.2, §6.3.2), and without
    ``key_ops``: PyJWT writes ``["sign"]`` on a private key, which a public key's
    verifier would rightly refuse (RFC 7517 §4.3); ``use: sig`` says it all."""
    private = {"d", "p", "q", "dp", "dq", "qi", "oth", "key_ops"}
    return {k: v for k, v in jwk.items() if k not in private}


def new_private_jwk(alg: str) -> dict[str, Any]:
    if alg == "ES256":
        return dict(json.loads(ECAlgorithm.to_jwk(ec.generate_private_key(ec.SECP256R1()))))
    if alg == "RS256":
        key = rsa.generate_private_key(public_exponent=65537, key_size=3072)
        return dict(json.loads(RSAAlgorithm.to_jwk(key)))
    raise ValueError(f"unsupported algorithm {alg!r}: use one of {', '.join(ALGORITHMS)}")


def write_private(path: Path, payload: dict[str, Any]) -> None:
    """Write a secret file readable by its owner only, atomically."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    # A temporary name of our own: two processes creating the same key do not collide.
    temporary = path.with_suffix(f".{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as stream:
        json.dump(payload, stream, indent=2)
    os.replace(temporary, path)  # never a half-written key


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


class KeyRing:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._jws = os.fspath(directory / "jws")  # stat on every signature: no Path joins
        self._cache: tuple[int, list[SigningKey]] | None = None
        self._log_key: Ed25519PrivateKey | None = None

    # --- JWS keys --------------------------------------------------------------------

    def signing_keys(self) -> list[SigningKey]:
        """Every JWS key on disk, re-read only when the folder changed (rotation by
        another process or ``accord keys rotate`` is seen at once)."""
        try:
            stamp = os.stat(self._jws).st_mtime_ns
        except FileNotFoundError:
            return []
        if self._cache is not None and self._cache[0] == stamp:
            return self._cache[1]
        folder = Path(self._jws)
        found = []
        for path in sorted(folder.glob("*.json")):
            data = json.loads(path.read_text(encoding="utf-8"))
            found.append(
                SigningKey(
                    kid=data["kid"],
                    alg=data["alg"],
                    private_jwk=data["jwk"],
                    created_at=datetime.fromisoformat(data["created_at"]),
                    active_from=datetime.fromisoformat(data["active_from"]),
                    retire_at=_time(data.get("retire_at")),
                )
            )
        keys = sorted(found, key=lambda k: (k.active_from, k.created_at))
        self._cache = (stamp, keys)
        return keys

    def create(
        self,
        alg: str = "ES256",
        *,
        active_from: datetime | None = None,
        now: datetime | None = None,
    ) -> SigningKey:
        now = now or utcnow()
        key = SigningKey(
            kid=f"{now:%Y%m%d}-{secrets.token_hex(4)}",
            alg=alg,
            private_jwk=new_private_jwk(alg),
            created_at=now,
            active_from=active_from or now,
            retire_at=None,
        )
        self._save(key)
        return key

    def _save(self, key: SigningKey) -> None:
        write_private(
            self.directory / "jws" / f"{key.kid}.json",
            {
                "kid": key.kid,
                "alg": key.alg,
                "jwk": key.private_jwk,
                "created_at": key.created_at.isoformat(),
                "active_from": key.active_from.isoformat(),
                "retire_at": key.retire_at.isoformat() if key.retire_at else None,
            },
        )

    def active(self, alg: str = "ES256", *, now: datetime | None = None) -> SigningKey:
        """The key that signs now: the newest already active, not retired (created if none)."""
        now = now or utcnow()
        usable = [
            k
            for k in self.signing_keys()
            if k.alg == alg and k.active_from <= now and (k.retire_at is None or k.retire_at > now)
        ]
        return usable[-1] if usable else self.create(alg, now=now)

    def published(self, *, now: datetime | None = None) -> list[SigningKey]:
        now = now or utcnow()
        return [k for k in self.signing_keys() if k.retire_at is None or k.retire_at > now]

    def jwks(self, *, now: datetime | None = None) -> dict[str, Any]:
        return {"keys": [k.public_jwk for k in self.published(now=now)]}

    def rotate(
        self,
        alg: str = "ES256",
        *,
        overlap: timedelta = DEFAULT_OVERLAP,
        now: datetime | None = None,
    ) -> SigningKey:
        """Publish a new key now, sign with it after ``overlap``, retire the old ones
        ``overlap`` after that (their signatures must have expired by then)."""
        now = now or utcnow()
        new = self.create(alg, active_from=now + overlap, now=now)
        for old in self.signing_keys():
            if old.alg == alg and old.kid != new.kid and old.retire_at is None:
                self._save(
                    SigningKey(
                        old.kid,
                        old.alg,
                        old.private_jwk,
                        old.created_at,
                        old.active_from,
                        retire_at=now + 2 * overlap,
                    )
                )
        return new

    def verification_key(self, kid: str, *, now: datetime | None = None) -> Any:
        for key in self.published(now=now):
            if key.kid == kid:
                return key.verifier
        raise KeyError(kid)

    # --- the log's checkpoint key ------------------------------------------------------

    def log_key(self) -> Ed25519PrivateKey:
        cached = self._log_key
        if cached is not None:
            return cached
        key = self._load_log_key()
        self._log_key = key
        return key

    def _load_log_key(self) -> Ed25519PrivateKey:
        path = self.directory / "log" / "ed25519.json"
        if not path.exists():
            key = Ed25519PrivateKey.generate()
            staged = path.with_suffix(f".{os.getpid()}.{secrets.token_hex(4)}.new")
            write_private(staged, {"jwk": json.loads(OKPAlgorithm.to_jwk(key)), "alg": "EdDSA"})
            try:
                os.link(staged, path)  # fails if another process made the key first
            except FileExistsError:
                pass
            finally:
                staged.unlink()
        data = json.loads(path.read_text(encoding="utf-8"))  # whoever won, one key
        loaded = OKPAlgorithm.from_jwk(json.dumps(data["jwk"]))
        if not isinstance(loaded, Ed25519PrivateKey):
            raise ValueError(f"{path} does not hold an Ed25519 private key")
        return loaded
