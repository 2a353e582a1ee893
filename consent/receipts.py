"""Signed consent receipts: one compact JWS per consent event.

The payload uses the field names of the Kantara Initiative *Consent Receipt
Specification* v1.1.0 (M. Lizar, D. Turner, 2018-02-20), its "Consent Receipt Fields":
``version``, ``jurisdiction``, ``consentTimestamp``, ``collectionMethod``,
``consentReceiptID``, ``language``, ``piiPrincipalId``, ``piiControllers``, ``policyUrl``,
``services`` (each with ``purposes``: ``purpose``, ``purposeCategory``, ``consentType``,
``piiCategory``, ``primaryPurpose``, ``termination``, ``thirdPartyDisclosure``,
``thirdPartyName``), ``sensitive`` and ``spiCat``; ``publicKey`` (optional) is omitted,
the JWK Set names the key. JWT claims ``iss``, ``iat`` and ``jti`` (RFC 7519 §4.1) come
with them.

One extension object, ``accord``, carries the evidence that lets the person or anyone
they show the receipt to check it offline (``sdk.receipts.verify_receipt``): the
committed event document (:func:`consent.canonical.event_document`), its salt, the
commitment, and the log's inclusion proof with the signed checkpoint it folds up to.
The Kantara fields are all derived from that document, so a verifier can check that the
receipt says nothing the log does not hold.

The person appears only as ``piiPrincipalId``, the pseudonym the recipient knows them
by; the internal person id is never written. The JWS is explicitly typed
``consent-receipt+jwt`` (RFC 8725 §3.11) so it cannot pass for an ID or access token.
"""

from __future__ import annotations

import base64
import calendar
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NotRequired, TypedDict

import jwt

from consent.canonical import commit, event_document, timestamp
from consent.checkpoint import Checkpoint
from consent.errors import CheckpointError, LogError
from consent.ledger import HASH_SIZE
from consent.records import TRANSITIONS, ConsentEvent, ConsentRecord, ConsentState, EventType
from consent.taxonomy import RecipientKind

RECEIPT_VERSION = "KI-CR-v1.1.0"  # Kantara CR v1.1: the value of ``version``
RECEIPT_TYPE = "consent-receipt+jwt"  # the JOSE ``typ`` header (RFC 7515 §4.1.9)
ALGORITHMS = ("ES256", "RS256")  # what the gateway's key ring holds; never "none" or HMAC

# Each event type leads to one state whatever the state before it (records.TRANSITIONS).
_STATE_AFTER: dict[EventType, ConsentState] = {
    kind: state for row in TRANSITIONS.values() for kind, state in row.items()
}


class Controller(TypedDict):
    """The PII controller as Kantara v1.1 ``piiControllers`` names it."""

    name: str
    contact: str
    email: str
    address: NotRequired[str | dict[str, str]]  # text, or a schema.org PostalAddress
    phone: NotRequired[str]
    url: NotRequired[str]


@dataclass(frozen=True)
class LogProof:
    """Where an event's commitment sits in the log, and the signed tree head to check it by.

    ``inclusion`` is PATH(index, D[0:size]) (RFC 9162 §2.1.3.1); ``checkpoint`` is the
    signed note of the tree head of exactly ``size`` leaves; ``origin`` names the log.
    """

    index: int
    size: int
    inclusion: Sequence[bytes]
    checkpoint: str
    origin: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "inclusion", tuple(self.inclusion))  # frozen means frozen
        if not 0 <= self.index < self.size:
            raise LogError(f"index {self.index} is outside 0..{self.size - 1}")
        if any(len(node) != HASH_SIZE for node in self.inclusion):
            raise LogError(f"an inclusion proof holds {HASH_SIZE}-byte hashes")
        # The signer is the log itself, so the note is read here without its key: this
        # only refuses to issue a receipt whose proof and checkpoint disagree.
        cut = self.checkpoint.rfind("\n\n")
        if cut < 0:
            raise CheckpointError("the checkpoint is not a signed note")
        head = Checkpoint.parse(self.checkpoint[: cut + 1])
        if (head.origin, head.size) != (self.origin, self.size):
            raise CheckpointError(
                f"the checkpoint is for {head.origin} at size {head.size}, "
                f"the proof for {self.origin} at size {self.size}"
            )


def receipt_id(record: ConsentRecord, event: ConsentEvent) -> str:
    """One receipt per event: the record's receipt id and the event's sequence number."""
    return f"{record.receipt_id}.{event.seq}"


def state_after(event: ConsentEvent) -> ConsentState:
    return _STATE_AFTER[event.type]


def _termination(record: ConsentRecord, event: ConsentEvent) -> str:
    # Kantara v1.1 "termination": the conditions under which the consent ends, as text.
    state = state_after(event)
    if state is not ConsentState.given:
        return f"Ended ({state.value}) at {timestamp(event.at)}."
    until = event.valid_until or record.valid_until  # a renewal carries its new end
    return (
        f"Valid until {timestamp(until)}, or until withdrawn at any time "
        f"via {record.withdrawal_method}."
    )


def _controller(controller: Controller) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "piiController": controller["name"],
        "contact": controller["contact"],
        "email": controller["email"],
    }
    if "address" in controller:
        entry["address"] = controller["address"]
    if "phone" in controller:
        entry["phone"] = controller["phone"]
    if "url" in controller:
        entry["piiControllerUrl"] = controller["url"]
    return entry


def receipt_claims(
    record: ConsentRecord,
    event: ConsentEvent,
    *,
    principal: str,
    salt: bytes,
    proof: LogProof,
    issuer: str,
    controller: Controller,
    policy_url: str,
    purpose_text: str | None = None,
    issued_at: datetime | None = None,
) -> dict[str, Any]:
    """The JWS payload of the receipt for ``event`` of ``record``.

    ``principal`` is the pseudonym the recipient knows the person by (their pairwise
    subject); ``purpose_text`` the purpose's human title (the key when not given).
    """
    if principal == record.person_id:
        raise ValueError("a receipt names the person by their pseudonym, not the person id")
    recipient = record.recipient
    if recipient is None:
        raise ValueError("a receipted record names its recipient")
    document = event_document(record, event, principal)
    third_party = recipient.kind is RecipientKind.brand  # a brand is outside the platform
    purpose: dict[str, Any] = {
        "purpose": purpose_text or record.purpose,
        "purposeCategory": [record.purpose],
        "consentType": record.consent_type.upper(),
        "piiCategory": sorted(record.categories),
        "primaryPurpose": True,  # a record covers exactly one purpose, its reason for being
        "termination": _termination(record, event),
        "thirdPartyDisclosure": third_party,
    }
    if third_party:
        purpose["thirdPartyName"] = recipient.name
    issued = issued_at or datetime.now(UTC)
    return {
        "version": RECEIPT_VERSION,
        "jurisdiction": record.jurisdiction,
        # Kantara v1.1: whole seconds since the epoch, UTC (floored, exact: no float).
        "consentTimestamp": calendar.timegm(event.at.astimezone(UTC).timetuple()),
        "collectionMethod": event.method,
        "consentReceiptID": receipt_id(record, event),
        "language": record.language,
        "piiPrincipalId": principal,
        "piiControllers": [_controller(controller)],
        "policyUrl": policy_url,
        "services": [{"service": recipient.name, "purposes": [purpose]}],
        "sensitive": record.sensitive,
        "spiCat": sorted(record.categories) if record.sensitive else [],
        "iss": issuer,
        "iat": int(issued.timestamp()),
        "jti": str(uuid.uuid4()),  # a receipt may be reissued with a newer proof
        "accord": {
            "event": document,
            "salt": base64.urlsafe_b64encode(salt).rstrip(b"=").decode("ascii"),
            "commitment": base64.b64encode(commit(record, event, principal, salt)).decode(),
            "state": state_after(event).value,
            "log": {
                "index": proof.index,
                "size": proof.size,
                "inclusion": [base64.b64encode(node).decode("ascii") for node in proof.inclusion],
                "checkpoint": proof.checkpoint,
                "origin": proof.origin,
            },
        },
    }


def sign_receipt(claims: dict[str, Any], key: Any, kid: str, alg: str = "ES256") -> str:
    """The compact JWS of ``claims``, signed by ``key`` (a private key object or PyJWK)."""
    if alg not in ALGORITHMS:
        raise ValueError(f"unsupported algorithm {alg!r}: use one of {', '.join(ALGORITHMS)}")
    return jwt.encode(claims, key, algorithm=alg, headers={"typ": RECEIPT_TYPE, "kid": kid})
