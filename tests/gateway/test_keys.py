"""Signing keys: generation, JWKS, rotation with overlap, and the log's Ed25519 key."""

from __future__ import annotations

import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient
from joserfc import jwt as joserfc_jwt
from joserfc.errors import BadSignatureError
from joserfc.jwk import KeySet
from typer.testing import CliRunner

from gateway.cli import app as cli
from gateway.keys import KeyRing
from gateway.oauth.tokens import AccessClaims, Lifetimes, Signer

T = datetime(2026, 11, 24, 12, tzinfo=UTC)


def test_a_key_is_created_on_first_use_readable_by_the_owner_only(tmp_path: Path) -> None:
    ring = KeyRing(tmp_path)
    key = ring.active(now=T)
    assert key.alg == "ES256"
    (path,) = (tmp_path / "jws").glob("*.json")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "jws").stat().st_mode) == 0o700
    assert ring.active(now=T + timedelta(days=1)).kid == key.kid  # the same key, not a new one


def test_the_jwks_holds_public_keys_only(tmp_path: Path) -> None:
    ring = KeyRing(tmp_path)
    ring.active(now=T)
    ring.active("RS256", now=T)
    jwks = ring.jwks(now=T)
    assert sorted(k["alg"] for k in jwks["keys"]) == ["ES256", "RS256"]
    for jwk in jwks["keys"]:
        assert not {"d", "p", "q", "dp", "dq", "qi"} & set(jwk)
        assert "key_ops" not in jwk  # a private key's ["sign"] is no public key's operation
        assert jwk["use"] == "sig" and jwk["kid"]


@pytest.mark.parametrize("alg", ["ES256", "RS256"])
def test_what_the_active_key_signs_verifies_with_the_jwks(tmp_path: Path, alg: str) -> None:
    ring = KeyRing(tmp_path)
    key = ring.active(alg, now=T)
    token = jwt.encode({"sub": "x"}, key.signer(), algorithm=alg, headers={"kid": key.kid})
    published = jwt.PyJWKSet.from_dict(ring.jwks(now=T))[key.kid]
    assert jwt.decode(token, published, algorithms=[alg])["sub"] == "x"
    assert jwt.decode(token, ring.verification_key(key.kid, now=T), algorithms=[alg])


def test_rotation_publishes_first_signs_after_the_overlap_then_retires(tmp_path: Path) -> None:
    ring = KeyRing(tmp_path)
    old = ring.active(now=T)
    overlap = timedelta(hours=24)
    new = ring.rotate(overlap=overlap, now=T)
    # Published at once, so verifiers fetch it before they meet it ...
    assert {k["kid"] for k in ring.jwks(now=T)["keys"]} == {old.kid, new.kid}
    # ... but the old key still signs during the overlap.
    assert ring.active(now=T + overlap - timedelta(seconds=1)).kid == old.kid
    assert ring.active(now=T + overlap).kid == new.kid
    # The old key verifies until it is retired, then leaves the JWKS.
    assert ring.verification_key(old.kid, now=T + 2 * overlap - timedelta(seconds=1))
    assert {k["kid"] for k in ring.jwks(now=T + 2 * overlap)["keys"]} == {new.kid}
    with pytest.raises(KeyError):
        ring.verification_key(old.kid, now=T + 2 * overlap)


def test_another_process_sees_a_rotation(tmp_path: Path) -> None:
    serving, operator = KeyRing(tmp_path), KeyRing(tmp_path)
    first = serving.active(now=T)
    assert len(serving.signing_keys()) == 1
    operator.rotate(overlap=timedelta(0), now=T + timedelta(minutes=1))
    assert serving.active(now=T + timedelta(minutes=2)).kid != first.kid


def test_unsupported_algorithms_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unsupported algorithm 'HS256'"):
        KeyRing(tmp_path).create("HS256", now=T)


def test_the_log_key_is_ed25519_and_stable(tmp_path: Path) -> None:
    key = KeyRing(tmp_path).log_key()
    assert isinstance(key, Ed25519PrivateKey)
    again = KeyRing(tmp_path).log_key()
    assert again.public_key().public_bytes_raw() == key.public_key().public_bytes_raw()
    path = tmp_path / "log" / "ed25519.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_the_jwks_is_served(client: TestClient) -> None:
    jwks = client.get("/.well-known/jwks.json").json()
    assert len(jwks["keys"]) == 1
    assert jwks["keys"][0]["kty"] == "EC" and "d" not in jwks["keys"][0]


def test_keys_rotate_and_list_from_the_cli(tmp_path: Path) -> None:
    env = {
        "ACCORD_ENV": "development",
        "ACCORD_KEY_DIR": str(tmp_path / "k"),
        "ACCORD_DATABASE_URL": f"sqlite:///{tmp_path}/k.db",
    }
    runner = CliRunner()
    first = runner.invoke(cli, ["keys", "list"], env=env)
    assert first.exit_code == 0 and first.stdout.count("ES256") == 1
    rotated = runner.invoke(cli, ["keys", "rotate", "--overlap-hours", "1"], env=env)
    assert rotated.exit_code == 0 and rotated.stdout.startswith("new key ")
    listed = runner.invoke(cli, ["keys", "list"], env=env).stdout.splitlines()
    assert len(listed) == 2 and "retires -" not in listed[0]
    bad = runner.invoke(cli, ["keys", "rotate", "--alg", "HS256"], env=env)
    assert bad.exit_code == 1 and "unsupported algorithm" in bad.stderr


@pytest.mark.parametrize("alg", ["ES256", "RS256"])
def test_signed_tokens_verify_with_an_independent_jose_library(tmp_path: Path, alg: str) -> None:
    ring = KeyRing(tmp_path)
    lifetimes = Lifetimes(*(timedelta(minutes=m) for m in (15, 10, 60, 1)))
    signer = Signer(ring, "https://gw.example", lifetimes)
    now = datetime.now(UTC)
    claims = AccessClaims("brd_1", "sub-1", "member_api", "https://gw.example", amr=["pwd"])
    token, _ = signer.access_token(claims, alg, now=now)
    keys = KeySet.import_key_set(cast(Any, ring.jwks(now=now)))
    verified = joserfc_jwt.decode(token, keys, algorithms=[alg])
    assert verified.header == {"alg": alg, "kid": ring.active(alg, now=now).kid, "typ": "at+jwt"}
    assert verified.claims["sub"] == "sub-1" and verified.claims["amr"] == ["pwd"]
    tampered = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    with pytest.raises(BadSignatureError):
        joserfc_jwt.decode(tampered, keys, algorithms=[alg])
    assert signer.verify_access_token(token, now=now)["client_id"] == "brd_1"
