"""Client authentication, checked against Authlib's server-side implementations."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

import jwt
import pytest
from authlib.oauth2.rfc6749.errors import InvalidClientError
from authlib.oauth2.rfc6749.util import extract_basic_authorization
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from joserfc.jwk import KeySet
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from sdk import ClientSecretBasic, PrivateKeyJWT
from sdk.auth import ASSERTION_TYPE
from sdk.calls import Request

ISSUER = "https://accord.example"


def _ec_private_jwk(kid: str = "k1") -> dict[str, Any]:
    jwk: dict[str, Any] = json.loads(ECAlgorithm.to_jwk(ec.generate_private_key(ec.SECP256R1())))
    jwk["kid"] = kid
    return jwk


def _public(jwk: dict[str, Any]) -> dict[str, Any]:
    private = {"d", "p", "q", "dp", "dq", "qi"}
    return {k: v for k, v in jwk.items() if k not in private}


@pytest.mark.parametrize(
    ("client_id", "secret"),
    [
        pytest.param("plt_abc", "s3cr3t", id="plain"),
        pytest.param("plt:colon", "pa:ss", id="colons"),
        pytest.param("plt abc", "a b+c%d/é", id="reserved-and-unicode"),
    ],
)
def test_client_secret_basic_round_trips_through_authlib(client_id: str, secret: str) -> None:
    request = ClientSecretBasic(client_id, secret).apply(Request("POST", "/token"), audience=ISSUER)
    assert extract_basic_authorization(request.headers) == (client_id, secret)


def test_client_secret_basic_never_shows_the_secret() -> None:
    auth = ClientSecretBasic("plt_abc", "top-secret-value")
    assert "top-secret-value" not in repr(auth)


@dataclass
class _Client:
    client_id: str
    jwks: dict[str, Any]

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return endpoint == "token"


@dataclass
class _FormRequest:
    form: dict[str, str]
    client: Any = None


@dataclass
class _Verifier(JWTBearerClientAssertion):  # type: ignore[misc]
    """Authlib's RFC 7523 client-assertion check, audience = our issuer, jti replay cache."""

    seen: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        JWTBearerClientAssertion.__init__(self, validate_jti=True, leeway=0)

    def get_audiences(self) -> list[str]:
        return [ISSUER]

    def validate_jti(self, claims: dict[str, Any], jti: str) -> bool:
        if jti in self.seen:
            return False
        self.seen.add(jti)
        return True

    def resolve_client_public_key(self, client: _Client) -> KeySet:
        return KeySet.import_key_set(client.jwks)  # type: ignore[arg-type]


def test_private_key_jwt_is_accepted_by_authlib() -> None:
    jwk = _ec_private_jwk()
    auth = PrivateKeyJWT("plt_abc", jwk)
    request = auth.apply(
        Request("POST", "/token", form={"grant_type": "client_credentials"}), audience=ISSUER
    )
    assert request.form is not None
    assert request.form["grant_type"] == "client_credentials"
    assert request.form["client_assertion_type"] == ASSERTION_TYPE
    verifier = _Verifier()
    client = _Client("plt_abc", {"keys": [_public(jwk)]})
    form = dict(request.form)
    assert verifier(lambda cid: client if cid == "plt_abc" else None, _FormRequest(form)) is client
    # The same assertion a second time is a replay.
    with pytest.raises(InvalidClientError, match="JWT ID is used before"):
        verifier(lambda cid: client, _FormRequest(form))


def test_each_assertion_is_fresh_and_short_lived() -> None:
    jwk = _ec_private_jwk("kid-7")
    auth = PrivateKeyJWT("plt_abc", jwk, lifetime=30)
    first, second = auth.assertion(ISSUER), auth.assertion(ISSUER)
    header = jwt.get_unverified_header(first)
    assert header == {"alg": "ES256", "kid": "kid-7", "typ": "JWT"}
    public = ECAlgorithm.from_jwk(json.dumps(_public(jwk)))
    claims = jwt.decode(first, public, algorithms=["ES256"], audience=ISSUER)  # type: ignore[arg-type]
    assert claims["iss"] == claims["sub"] == "plt_abc"
    assert claims["exp"] - claims["iat"] == 30
    assert abs(claims["iat"] - time.time()) < 5
    assert jwt.decode(second, public, algorithms=["ES256"], audience=ISSUER)["jti"] != claims["jti"]  # type: ignore[arg-type]


def test_an_expired_assertion_is_refused_by_authlib() -> None:
    jwk = _ec_private_jwk()
    stale = PrivateKeyJWT("plt_abc", jwk).assertion(ISSUER, now=time.time() - 3600)
    client = _Client("plt_abc", {"keys": [_public(jwk)]})
    form = {"client_assertion_type": ASSERTION_TYPE, "client_assertion": stale}
    with pytest.raises(InvalidClientError):
        _Verifier()(lambda cid: client, _FormRequest(form))


def test_an_assertion_for_another_audience_is_refused_by_authlib() -> None:
    jwk = _ec_private_jwk()
    other = PrivateKeyJWT("plt_abc", jwk).assertion("https://evil.example")
    client = _Client("plt_abc", {"keys": [_public(jwk)]})
    form = {"client_assertion_type": ASSERTION_TYPE, "client_assertion": other}
    with pytest.raises(InvalidClientError):
        _Verifier()(lambda cid: client, _FormRequest(form))


def test_rsa_keys_sign_rs256_and_pem_keys_work() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(RSAAlgorithm.to_jwk(key))
    token = PrivateKeyJWT("brd_x", jwk, kid="r1").assertion(ISSUER)
    assert jwt.get_unverified_header(token)["alg"] == "RS256"
    assert (
        jwt.decode(token, key.public_key(), algorithms=["RS256"], audience=ISSUER)["sub"] == "brd_x"
    )

    pem = ec.generate_private_key(ec.SECP256R1())
    text = pem.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    token = PrivateKeyJWT("brd_x", text, kid="p1").assertion(ISSUER)
    assert (
        jwt.decode(token, pem.public_key(), algorithms=["ES256"], audience=ISSUER)["iss"] == "brd_x"
    )


@pytest.mark.parametrize(
    ("key", "message"),
    [
        pytest.param(_public(_ec_private_jwk()), "holds no private key", id="public-only"),
        pytest.param({"kty": "oct", "k": "c2VjcmV0"}, "EC, RSA or OKP", id="symmetric"),
    ],
)
def test_unusable_keys_are_refused(key: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PrivateKeyJWT("plt_abc", key)


def test_assertion_lifetime_is_bounded() -> None:
    with pytest.raises(ValueError, match="1 to 300 seconds"):
        PrivateKeyJWT("plt_abc", _ec_private_jwk(), lifetime=3600)
