"""Verify a signed consent receipt offline, without trusting the gateway.

A receipt is a JWS typed ``consent-receipt+jwt`` (RFC 8725 §3.11) with the Kantara
Consent Receipt v1.1.0 fields and an ``accord`` object of evidence: the committed event
document, its salt, an inclusion proof and a signed checkpoint. We check the JWS (key by
``kid``; ES256 or RS256 only, RFC 8725 §3.1), recompute SHA-256(salt || canonical
document) independently of the gateway's code, check that the Kantara fields restate the
document (a validly signed receipt still cannot say what the log does not), then the
checkpoint's Ed25519 signature and the inclusion proof (RFC 9162 §2.1.3.2). A failure
raises :class:`ReceiptError` starting with the check: "bad signature", "field mismatch"...
"""

from __future__ import annotations

import base64
import binascii
import calendar
import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import jwt
from jwt.types import Options
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from sdk.errors import AccordError
from sdk.merkle import Checkpoint, CheckpointError, open_checkpoint, verify_inclusion

RECEIPT_TYPE = "consent-receipt+jwt"
ALGORITHMS = {"ES256": "EC", "RS256": "RSA"}  # the only algorithms, with their JWK "kty"
# A receipt is evidence kept for years: it has no expiry, and its ``iat`` is not checked
# against this machine's clock.
_CLAIMS: Options = {"require": ["iss", "iat", "jti"], "verify_iat": False}
# The consent state (W3C DPV) each event type leads to: a renewal keeps it given.
_ENDS = ("given", "withdrawn", "revoked", "expired", "invalidated")
_STATE_AFTER = {"renewed": "given"} | {kind: kind for kind in _ENDS}


class ReceiptError(AccordError, ValueError):
    """The receipt does not verify; the message names the check that failed."""


def event_commitment(salt: bytes, document: Mapping[str, Any]) -> bytes:
    """The log leaf data for a consent event: SHA-256(salt || canonical document).

    Canonical JSON: sorted keys, no whitespace, UTF-8 not escaped, no NaN or infinities.
    """
    text = json.dumps(
        document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )
    return hashlib.sha256(salt + text.encode("utf-8")).digest()


@dataclass(frozen=True)
class VerifiedReceipt:
    """What a verified receipt proves: this consent event is in the log, as stated."""

    receipt_id: str
    issuer: str
    principal: str
    recipient: str
    purpose: str
    categories: tuple[str, ...]
    event_type: str
    state: str
    event_time: datetime
    log_index: int
    log_size: int
    checkpoint: Checkpoint  # the tree head it verified against: keep it for consistency
    document: dict[str, Any]


class _Model(BaseModel):
    # Strict: "1" is not 1 and 0 is not false. Unknown members are ignored (newer issuers).
    model_config = ConfigDict(frozen=True, strict=True, extra="ignore")


class _Recipient(_Model):
    kind: str
    name: str


class _Terms(_Model):
    receipt_id: str
    principal: str
    recipient: _Recipient
    purpose: str
    categories: list[str]
    consent_type: str
    sensitive: bool
    language: str
    jurisdiction: str


class _Event(_Model):
    seq: int
    type: str
    at: Annotated[AwareDatetime, Field(strict=False)]  # RFC 3339 text
    method: str


class _Document(_Model):  # what a receipt restates of the accord-consent-event/1 document
    record: _Terms
    event: _Event


class _Purpose(_Model):
    purpose_category: list[str] = Field(alias="purposeCategory")
    consent_type: str = Field(alias="consentType")
    pii_category: list[str] = Field(alias="piiCategory")
    third_party_disclosure: bool = Field(alias="thirdPartyDisclosure")
    third_party_name: str | None = Field(default=None, alias="thirdPartyName")


class _Service(_Model):
    service: str
    purposes: list[_Purpose]


class _Log(_Model):
    index: int
    size: int
    inclusion: list[str]
    checkpoint: str
    origin: str


class _Accord(_Model):
    event: dict[str, Any]
    salt: str
    commitment: str
    state: str
    log: _Log


class _Receipt(_Model):
    version: Literal["KI-CR-v1.1.0"]
    jurisdiction: str
    consent_timestamp: int = Field(alias="consentTimestamp")
    collection_method: str = Field(alias="collectionMethod")
    receipt_id: str = Field(alias="consentReceiptID")
    language: str
    principal: str = Field(alias="piiPrincipalId")
    services: list[_Service]
    sensitive: bool
    spi_cat: list[str] = Field(alias="spiCat")
    iss: str
    accord: _Accord


def _b64(text: str, *, url: bool) -> bytes:
    """Base64 (RFC 4648 §4) or unpadded base64url (§5), canonical spellings only."""
    std = text.replace("-", "+").replace("_", "/") + "=" * (-len(text) % 4) if url else text
    try:
        raw = base64.b64decode(std, validate=True)
    except (binascii.Error, ValueError):
        raise ReceiptError("malformed receipt: invalid base64") from None
    again = base64.urlsafe_b64encode(raw).rstrip(b"=") if url else base64.b64encode(raw)
    if again.decode("ascii") != text:
        raise ReceiptError("malformed receipt: non-canonical base64")
    return raw


def _key(header: dict[str, Any], jwks: Mapping[str, Any]) -> jwt.PyJWK:
    """The JWK Set's key for the header's ``kid``, usable with the header's ``alg``."""
    alg, kid = header.get("alg"), header.get("kid")
    if alg not in ALGORITHMS:
        raise ReceiptError(f"algorithm not allowed: {alg!r}, only {', '.join(ALGORITHMS)}")
    listed = jwks.get("keys")
    keys: list[Any] = listed if isinstance(listed, list) else []
    found = [k for k in keys if isinstance(k, dict) and kid and k.get("kid") == kid]
    if len(found) != 1:
        raise ReceiptError(f"unknown kid: the JWK Set has no single key {kid!r}")
    jwk = found[0]
    expected = (alg, ALGORITHMS[alg], "sig")  # RFC 7517 §4: kty, use and alg agree
    if (jwk.get("alg", alg), jwk.get("kty"), jwk.get("use", "sig")) != expected:
        raise ReceiptError(f"algorithm not allowed: key {kid!r} is not an {alg} signing key")
    try:
        return jwt.PyJWK(jwk, algorithm=alg)
    except jwt.PyJWTError:
        raise ReceiptError(f"unknown kid: key {kid!r} is not a usable {alg} key") from None


def _verify_jws(token: str, jwks: Mapping[str, Any], issuer: str | None) -> dict[str, Any]:
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise ReceiptError("malformed receipt: not a compact JWS") from None
    typ = str(header.get("typ", "")).lower()  # media types compare case-insensitively
    if typ not in (RECEIPT_TYPE, "application/" + RECEIPT_TYPE):  # RFC 7515 §4.1.9
        raise ReceiptError(f"wrong typ: {header.get('typ')!r}, expected {RECEIPT_TYPE!r}")
    key = _key(header, jwks)
    try:
        return jwt.decode(
            token, key, algorithms=[key.algorithm_name], issuer=issuer, options=_CLAIMS
        )
    except jwt.InvalidSignatureError:
        raise ReceiptError("bad signature: the JWS does not verify with its key") from None
    except jwt.InvalidIssuerError:
        raise ReceiptError(f"wrong issuer: the receipt is not issued by {issuer!r}") from None
    except jwt.PyJWTError as error:
        raise ReceiptError(f"malformed receipt: {error}") from None


def _restates(receipt: _Receipt, document: _Document) -> None:
    """Field mismatch unless every Kantara field says what the committed document says."""
    terms, event = document.record, document.event
    if len(receipt.services) != 1 or len(receipt.services[0].purposes) != 1:
        raise ReceiptError("field mismatch: a receipt covers one service and one purpose")
    service, purpose = receipt.services[0], receipt.services[0].purposes[0]
    brand = terms.recipient.kind == "brand"  # a brand is a third party to the platforms
    at = event.at.astimezone(UTC)
    checks: list[tuple[str, object, object]] = [
        ("consentReceiptID", receipt.receipt_id, f"{terms.receipt_id}.{event.seq}"),
        ("piiPrincipalId", receipt.principal, terms.principal),
        ("consentTimestamp", receipt.consent_timestamp, calendar.timegm(at.timetuple())),
        ("collectionMethod", receipt.collection_method, event.method),
        ("jurisdiction", receipt.jurisdiction, terms.jurisdiction),
        ("language", receipt.language, terms.language),
        ("service", service.service, terms.recipient.name),
        ("purposeCategory", purpose.purpose_category, [terms.purpose]),
        ("consentType", purpose.consent_type, terms.consent_type.upper()),
        ("piiCategory", sorted(purpose.pii_category), sorted(terms.categories)),
        ("thirdPartyDisclosure", purpose.third_party_disclosure, brand),
        ("thirdPartyName", purpose.third_party_name, terms.recipient.name if brand else None),
        ("sensitive", receipt.sensitive, terms.sensitive),
        ("spiCat", sorted(receipt.spi_cat), sorted(terms.categories) if terms.sensitive else []),
        ("accord.state", receipt.accord.state, _STATE_AFTER.get(event.type)),
    ]
    for name, said, logged in checks:
        if said != logged:
            raise ReceiptError(f"field mismatch: the receipt's {name} is not what the log holds")


def verify_receipt(
    token: str,
    *,
    jwks: Mapping[str, Any],
    log_verifier_key: str,
    issuer: str | None = None,
    checkpoint: str | None = None,
) -> VerifiedReceipt:
    """Verify a consent receipt offline against the gateway's JWK Set and log key.

    ``checkpoint``, a tree head the caller fetched, replaces the receipt's own; it must
    be of the proof's size (check a newer one with :func:`sdk.merkle.verify_consistency`).
    """
    claims = _verify_jws(token, jwks, issuer)
    try:
        receipt = _Receipt.model_validate(claims)
        document = _Document.model_validate(receipt.accord.event)
    except ValidationError as error:
        where = sorted({".".join(map(str, e["loc"])) for e in error.errors()})
        raise ReceiptError("malformed receipt: " + ", ".join(where[:3])) from None
    accord, log = receipt.accord, receipt.accord.log
    salt = _b64(accord.salt, url=True)
    if len(salt) != 32:  # fixed, so that salt || document splits in exactly one way
        raise ReceiptError("malformed receipt: the salt must be 32 bytes")
    try:
        commitment = event_commitment(salt, accord.event)
    except ValueError:  # NaN or infinity: JSON parsers accept them, canonical JSON does not
        raise ReceiptError("malformed receipt: the event is not canonical JSON") from None
    if not hmac.compare_digest(commitment, _b64(accord.commitment, url=False)):
        raise ReceiptError("commitment mismatch: SHA-256(salt || event) is not the commitment")
    _restates(receipt, document)
    try:
        head = open_checkpoint(checkpoint or log.checkpoint, log_verifier_key)
    except CheckpointError as error:
        raise ReceiptError(f"checkpoint failure: {error}") from error
    if head.origin != log.origin:
        raise ReceiptError(f"checkpoint failure: the checkpoint is of {head.origin!r}")
    if head.size != log.size:
        raise ReceiptError(
            f"checkpoint failure: the checkpoint has size {head.size}, the proof size "
            f"{log.size}; check a newer tree head against the receipt's with verify_consistency"
        )
    proof = [_b64(node, url=False) for node in log.inclusion]
    if not verify_inclusion(commitment, log.index, log.size, proof, head.root):
        raise ReceiptError(
            f"inclusion failure: the event is not leaf {log.index} of the tree of size {log.size}"
        )
    return VerifiedReceipt(
        receipt_id=receipt.receipt_id,
        issuer=receipt.iss,
        principal=receipt.principal,
        recipient=document.record.recipient.name,
        purpose=document.record.purpose,
        categories=tuple(sorted(document.record.categories)),
        event_type=document.event.type,
        state=accord.state,
        event_time=document.event.at.astimezone(UTC),
        log_index=log.index,
        log_size=log.size,
        checkpoint=head,
        document=accord.event,
    )
