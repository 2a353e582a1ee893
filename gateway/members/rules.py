"""Registration rules for members, as pure functions that raise catalogued errors.

Redirect URIs follow RFC 6749 §3.1.2 and the OAuth Security BCP (RFC 9700 §4.1):
absolute, no fragment, no wildcard, matched exactly later, and https except on the
loopback interface (RFC 8252 §7.3). Keys follow RFC 7517 and must be public.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from typing import Any
from urllib.parse import urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from consent.taxonomy import DataStandard, RecipientKind
from gateway.errors import InvalidClientMetadata, InvalidRedirectURI

MAX_URI = 2000
LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "::1"}
SIGNING_ALGS = {"ES256": "EC", "RS256": "RSA", "EdDSA": "OKP"}
PRIVATE_JWK_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}
MAX_KEYS = 10
MIN_RSA_BITS = 2048
EMAIL = re.compile(
    r"^[^@\s]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9-]{1,63})+$"
)
PHONE = re.compile(r"^\+?[0-9][0-9 ()-]{4,30}$")
HOST = re.compile(
    r"^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$"
)


def name_key(name: str) -> str:
    """The form two names are compared in: "Red Note " and "red  note" are one name."""
    return " ".join(unicodedata.normalize("NFKC", name).casefold().split())


def check_name(name: str) -> str:
    cleaned = " ".join(name.split())
    if not 2 <= len(cleaned) <= 120:
        raise InvalidClientMetadata("name must be 2 to 120 characters")
    if any(unicodedata.category(ch).startswith("C") for ch in cleaned):
        raise InvalidClientMetadata("name must not contain control characters")
    return cleaned


def check_contact(name: str | None, email: str | None, phone: str | None) -> None:
    # PIPL Art. 23: the person must be told the recipient's name and contact method.
    if not name or not name.strip():
        raise InvalidClientMetadata("contact.name is required (PIPL Art. 23)")
    if not email or not email.strip():
        raise InvalidClientMetadata("contact.email is required (PIPL Art. 23)")
    if not EMAIL.match(email):
        raise InvalidClientMetadata("contact.email is not an email address")
    if phone is not None and not PHONE.match(phone):
        raise InvalidClientMetadata("contact.phone is not a phone number")


def _is_loopback(host: str) -> bool:
    if host in LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_url(field: str, uri: str, error: type[InvalidClientMetadata | InvalidRedirectURI]) -> str:
    """An absolute https URL (http only on loopback), no fragment, no credentials."""
    if len(uri) > MAX_URI:
        raise error(f"{field} is longer than {MAX_URI} characters")
    if any(ch.isspace() for ch in uri) or "*" in uri:
        raise error(f"{field} must not contain spaces or wildcards: {uri!r}")
    try:
        parts = urlsplit(uri)
        host = parts.hostname
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        raise error(f"{field} is not a valid URL: {uri!r}") from None
    if not host:
        raise error(f"{field} must be an absolute URL: {uri!r}")
    if parts.scheme == "http":
        if not _is_loopback(host):
            raise error(f"{field} must use https (http only for localhost): {uri!r}")
    elif parts.scheme != "https":
        raise error(f"{field} must use https: {uri!r}")
    if parts.fragment or uri.endswith("#"):
        raise error(f"{field} must not have a fragment: {uri!r}")
    if parts.username is not None or parts.password is not None:
        raise error(f"{field} must not carry credentials: {uri!r}")
    return uri


def check_redirect_uris(uris: list[str]) -> list[str]:
    if not uris:
        raise InvalidRedirectURI("at least one redirect URI is required")
    if len(uris) > 20:
        raise InvalidRedirectURI("at most 20 redirect URIs")
    for uri in uris:
        check_url("redirect_uri", uri, InvalidRedirectURI)
    if len(set(uris)) != len(uris):
        raise InvalidRedirectURI("redirect URIs must not repeat")
    return uris


def check_logout_uris(uris: list[str]) -> list[str]:
    """Post-logout redirect URIs: optional, each an absolute URL like a redirect URI."""
    for uri in uris:
        check_url("post_logout_redirect_uri", uri, InvalidRedirectURI)
    if len(set(uris)) != len(uris):
        raise InvalidRedirectURI("post-logout redirect URIs must not repeat")
    return uris


def sector_of(redirect_uris: list[str], sector: str | None) -> str:
    """The pairwise sector (OIDC Core §8.1): the redirect host, or an explicit sector."""
    if sector:
        host = urlsplit(sector).hostname if "://" in sector else sector
        host = (host or "").lower()
        if not HOST.match(host):
            raise InvalidClientMetadata(f"sector must be a host name: {sector!r}")
        return host
    hosts = sorted({(urlsplit(uri).hostname or "").lower() for uri in redirect_uris})
    if len(hosts) != 1:
        raise InvalidClientMetadata(
            "redirect URIs span several hosts (" + ", ".join(hosts) + "): give a sector"
        )
    return hosts[0]


def check_jwks(jwks: Any) -> dict[str, Any]:
    """A public JWK Set for private_key_jwt: no private or symmetric key material."""
    if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list):
        raise InvalidClientMetadata('jwks must be a JWK Set: {"keys": [...]}')
    keys: list[Any] = jwks["keys"]
    if not 1 <= len(keys) <= MAX_KEYS:
        raise InvalidClientMetadata(f"jwks must hold 1 to {MAX_KEYS} keys")
    kids: set[str] = set()
    for index, key in enumerate(keys):
        where = f"jwks.keys[{index}]"
        if not isinstance(key, dict):
            raise InvalidClientMetadata(f"{where} is not a JWK")
        if PRIVATE_JWK_MEMBERS & key.keys():
            raise InvalidClientMetadata(f"{where} holds private or symmetric key material")
        kid = key.get("kid")
        if not isinstance(kid, str) or not kid:
            raise InvalidClientMetadata(f"{where} needs a kid")
        if kid in kids:
            raise InvalidClientMetadata(f"{where}: kid {kid!r} repeats")
        kids.add(kid)
        if key.get("use", "sig") != "sig":
            raise InvalidClientMetadata(f"{where}: use must be sig")
        kty, alg = key.get("kty"), key.get("alg")
        if alg is not None and SIGNING_ALGS.get(alg) != kty:
            raise InvalidClientMetadata(f"{where}: alg must be one of ES256, RS256, EdDSA")
        try:
            parsed = jwt.PyJWK(key).key
        except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError):
            raise InvalidClientMetadata(f"{where} is not a valid public key") from None
        if isinstance(parsed, rsa.RSAPublicKey) and parsed.key_size < MIN_RSA_BITS:
            raise InvalidClientMetadata(f"{where}: RSA keys need at least {MIN_RSA_BITS} bits")
        if isinstance(parsed, ec.EllipticCurvePublicKey) and parsed.curve.name != "secp256r1":
            raise InvalidClientMetadata(f"{where}: EC keys must be on P-256")
    return {"keys": keys}


def check_purposes(purposes: list[str], kind: RecipientKind, standard: DataStandard) -> list[str]:
    if len(set(purposes)) != len(purposes):
        raise InvalidClientMetadata("purposes must not repeat")
    for key in purposes:
        purpose = standard.purposes.get(key)
        if purpose is None:
            raise InvalidClientMetadata(f"purpose {key!r} is not in the data standard")
        if kind not in purpose.recipients:
            raise InvalidClientMetadata(f"purpose {key!r} is not open to a {kind.value}")
    return purposes
