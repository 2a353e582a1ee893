"""Consent receipts verified offline by the SDK: issued by consent/, checked by sdk/.

A small log of several records' events, a checkpoint signed with a fresh Ed25519 key,
receipts signed with a fresh ES256 key; then every kind of tampering, each refused by
the check that should catch it.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from consent.canonical import commit, event_document, new_salt
from consent.checkpoint import Checkpoint, sign_checkpoint, verifier_key
from consent.ledger import MemoryNodeStore, MerkleLog
from consent.receipts import Controller, LogProof, receipt_claims, sign_receipt
from consent.records import ConsentEvent, ConsentRecord, EventType, Recipient
from consent.taxonomy import RecipientKind
from gateway.keys import new_private_jwk, public_part
from sdk.errors import AccordError
from sdk.receipts import ReceiptError, VerifiedReceipt, event_commitment, verify_receipt
from tests.consent.builders import PLATFORM, T0, granted, record, then

ORIGIN = "accord.example/consent-log"
ISSUER = "https://accord.example"
KID = "20261101-receipts"
PERSON = "person-internal-5d1e"
CONTROLLER: Controller = {"name": "Accord", "contact": "DPO", "email": "dpo@accord.example"}
# A brand with a non-ASCII name, and a reason with an emoji: canonical JSON is not escaped.
REDLEAF = Recipient("brand-r", RecipientKind.brand, "红叶美妆", "dpo@redleaf.example")
Claims = dict[str, Any]


@dataclass(frozen=True)
class Logged:
    record: ConsentRecord
    event: ConsentEvent
    principal: str
    salt: bytes


@dataclass(frozen=True)
class World:
    logged: list[Logged]
    log: MerkleLog
    log_key: Ed25519PrivateKey
    verifier: str
    note: str
    signer: Any
    jwks: dict[str, Any]

    def proof(self, index: int) -> LogProof:
        size = self.log.size()
        return LogProof(index, size, self.log.inclusion_proof(index, size), self.note, ORIGIN)

    def claims(self, index: int) -> Claims:
        item = self.logged[index]
        return receipt_claims(
            item.record,
            item.event,
            principal=item.principal,
            salt=item.salt,
            proof=self.proof(index),
            issuer=ISSUER,
            controller=CONTROLLER,
            policy_url="https://accord.example/privacy",
        )

    def token(self, index: int) -> str:
        return sign_receipt(self.claims(index), self.signer, KID)


def es256_keys(kid: str = KID) -> tuple[Any, dict[str, Any]]:
    private = new_private_jwk("ES256")
    public = {**public_part(private), "kid": kid, "alg": "ES256", "use": "sig"}
    return jwt.PyJWK(private, algorithm="ES256").key, {"keys": [public]}


@pytest.fixture(scope="module")
def world() -> World:
    first = then(granted(record(person_id=PERSON)), EventType.withdrawn, T0 + timedelta(days=3))
    platform = granted(record(person_id=PERSON, recipient=PLATFORM))
    renewed = then(
        granted(record(person_id=PERSON, recipient=REDLEAF)),
        EventType.renewed,
        T0 + timedelta(days=200),
        valid_until=T0 + timedelta(days=500),
    )
    revoked = then(renewed, EventType.revoked, T0 + timedelta(days=201), reason="违规 🚫")
    logged = [
        Logged(history.record, ev, principal, new_salt())
        for history, principal in (
            (first, "pairwise-aurora-1"),
            (platform, "pairwise-redleaf-1"),
            (revoked, "pairwise-hongye-1"),
        )
        for ev in history.events
    ]
    log = MerkleLog(MemoryNodeStore())
    log.append_many([commit(i.record, i.event, i.principal, i.salt) for i in logged])
    log_key = Ed25519PrivateKey.generate()
    note = sign_checkpoint(Checkpoint(ORIGIN, log.size(), log.root()), ORIGIN, log_key)
    signer, jwks = es256_keys()
    verifier = verifier_key(ORIGIN, log_key.public_key())
    return World(logged, log, log_key, verifier, note, signer, jwks)


def verify(world: World, token: str, **options: Any) -> VerifiedReceipt:
    return verify_receipt(token, jwks=world.jwks, log_verifier_key=world.verifier, **options)


def test_every_receipt_verifies_offline(world: World) -> None:
    assert len(world.logged) == 6
    for index, item in enumerate(world.logged):
        verified = verify(world, world.token(index), issuer=ISSUER)
        rec, ev = item.record, item.event
        assert verified.receipt_id == f"{rec.receipt_id}.{ev.seq}"
        assert verified.issuer == ISSUER
        assert verified.principal == item.principal
        assert rec.recipient is not None and verified.recipient == rec.recipient.name
        assert verified.purpose == rec.purpose
        assert verified.categories == tuple(sorted(rec.categories))
        assert verified.event_type == ev.type.value
        assert verified.event_time == ev.at
        assert (verified.log_index, verified.log_size) == (index, 6)
        assert verified.checkpoint.root == world.log.root()
        assert verified.document == event_document(rec, ev, item.principal)
    states = [verify(world, world.token(i)).state for i in range(6)]
    assert states == ["given", "withdrawn", "given", "given", "given", "revoked"]


def test_an_rs256_receipt_verifies(world: World) -> None:
    private = new_private_jwk("RS256")
    jwks = {"keys": [{**public_part(private), "kid": "rsa-1", "alg": "RS256", "use": "sig"}]}
    token = sign_receipt(
        world.claims(0), jwt.PyJWK(private, algorithm="RS256").key, "rsa-1", "RS256"
    )
    verified = verify_receipt(token, jwks=jwks, log_verifier_key=world.verifier)
    assert verified.log_index == 0


def test_the_sdk_commitment_is_the_logs(world: World) -> None:
    """Two implementations of the commitment, one in consent/ and one in sdk/, agree."""
    for item in world.logged:
        document = event_document(item.record, item.event, item.principal)
        expected = commit(item.record, item.event, item.principal, item.salt)
        assert event_commitment(item.salt, document) == expected
        # and after the JSON round trip a receipt's payload goes through
        assert event_commitment(item.salt, json.loads(json.dumps(document))) == expected
    # the non-ASCII path is exercised: json.dumps would escape these by default
    assert world.logged[4].record.recipient == REDLEAF
    assert world.logged[5].event.reason == "违规 🚫"


def test_a_receipt_never_holds_the_person_id(world: World) -> None:
    for index in range(len(world.logged)):
        token = world.token(index)
        payload = base64.urlsafe_b64decode(token.split(".")[1] + "==").decode("utf-8")
        assert world.logged[index].record.person_id == PERSON
        assert PERSON not in payload
        assert PERSON not in token


def test_a_checkpoint_of_the_same_size_may_replace_the_embedded_one(world: World) -> None:
    fetched = sign_checkpoint(
        Checkpoint(ORIGIN, world.log.size(), world.log.root()), ORIGIN, world.log_key
    )
    assert verify(world, world.token(2), checkpoint=fetched).log_index == 2


def test_a_newer_checkpoint_asks_for_a_consistency_proof(world: World) -> None:
    token = world.token(2)
    grown = MerkleLog(MemoryNodeStore())
    grown.append_many([commit(i.record, i.event, i.principal, i.salt) for i in world.logged])
    grown.append(bytes(32))
    newer = sign_checkpoint(Checkpoint(ORIGIN, 7, grown.root()), ORIGIN, world.log_key)
    with pytest.raises(ReceiptError, match=r"checkpoint failure: .*size 7.*verify_consistency"):
        verify(world, token, checkpoint=newer)


def test_the_issuer_is_checked_when_given(world: World) -> None:
    with pytest.raises(ReceiptError, match="wrong issuer"):
        verify(world, world.token(0), issuer="https://evil.example")


def test_receipt_error_is_an_accord_error() -> None:
    assert issubclass(ReceiptError, AccordError)
    assert issubclass(ReceiptError, ValueError)


# --- a signed receipt that says something the log does not ------------------------------
#
# Each case changes the claims and signs them again with the gateway's own key, as a
# buggy or lying issuer would: the signature verifies, a later check must not.

Mutation = Callable[[Claims, World], None]


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def put(path: str, value: Any) -> Mutation:
    """Set the member at a dotted path (list indexes as numbers)."""

    def mutate(claims: Claims, world: World) -> None:
        *parents, last = path.split(".")
        node: Any = claims
        for step in parents:
            node = node[int(step)] if isinstance(node, list) else node[step]
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value

    return mutate


def drop(path: str) -> Mutation:
    def mutate(claims: Claims, world: World) -> None:
        *parents, last = path.split(".")
        node: Any = claims
        for step in parents:
            node = node[step]
        del node[last]

    return mutate


def forge_event(claims: Claims, world: World) -> None:
    """Drop a category everywhere and commit again: consistent, but not what was logged."""
    fewer = claims["accord"]["event"]["record"]["categories"][1:]
    claims["accord"]["event"]["record"]["categories"] = fewer
    claims["services"][0]["purposes"][0]["piiCategory"] = fewer
    salt = base64.urlsafe_b64decode(claims["accord"]["salt"] + "=")
    claims["accord"]["commitment"] = b64(event_commitment(salt, claims["accord"]["event"]))


def shorten_proof(claims: Claims, world: World) -> None:
    claims["accord"]["log"]["inclusion"].pop()


def second_service(claims: Claims, world: World) -> None:
    claims["services"].append(copy.deepcopy(claims["services"][0]))


def other_log_key(claims: Claims, world: World) -> None:
    head = Checkpoint(ORIGIN, world.log.size(), world.log.root())
    claims["accord"]["log"]["checkpoint"] = sign_checkpoint(
        head, ORIGIN, Ed25519PrivateKey.generate()
    )


def other_origin(claims: Claims, world: World) -> None:
    head = Checkpoint("other.example/log", world.log.size(), world.log.root())
    claims["accord"]["log"]["checkpoint"] = sign_checkpoint(head, ORIGIN, world.log_key)


def other_root(claims: Claims, world: World) -> None:
    head = Checkpoint(ORIGIN, world.log.size(), world.log.root(5))
    claims["accord"]["log"]["checkpoint"] = sign_checkpoint(head, ORIGIN, world.log_key)


PURPOSE = "services.0.purposes.0"


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        pytest.param(
            put(f"{PURPOSE}.purposeCategory", ["identity.linking"]),
            "field mismatch: .*purposeCategory",
            id="kantara-purpose",
        ),
        pytest.param(
            put(f"{PURPOSE}.piiCategory", ["user.identity.phone"]),
            "field mismatch: .*piiCategory",
            id="kantara-categories",
        ),
        pytest.param(
            put("piiPrincipalId", "pairwise-someone-else"),
            "field mismatch: .*piiPrincipalId",
            id="kantara-principal",
        ),
        pytest.param(
            put("consentTimestamp", 1_700_000_000),
            "field mismatch: .*consentTimestamp",
            id="kantara-timestamp",
        ),
        pytest.param(
            put("consentReceiptID", "another-receipt.1"),
            "field mismatch: .*consentReceiptID",
            id="kantara-receipt-id",
        ),
        pytest.param(
            put("services.0.service", "Borealis Sports"),
            "field mismatch: .*service",
            id="kantara-recipient",
        ),
        pytest.param(
            put(f"{PURPOSE}.thirdPartyDisclosure", False),
            "field mismatch: .*thirdPartyDisclosure",
            id="kantara-third-party",
        ),
        pytest.param(put("sensitive", True), "field mismatch: .*sensitive", id="kantara-sensitive"),
        pytest.param(put("collectionMethod", "api"), "field mismatch", id="kantara-method"),
        pytest.param(second_service, "field mismatch: .*one service", id="two-services"),
        pytest.param(put("accord.state", "given"), "field mismatch: .*state", id="state"),
        pytest.param(
            put("accord.event.record.purpose", "identity.linking"),
            "commitment mismatch",
            id="event-changed",
        ),
        pytest.param(
            put("accord.event.event.type", "given"), "commitment mismatch", id="event-type-changed"
        ),
        pytest.param(
            put("accord.salt", b64url(bytes(32))), "commitment mismatch", id="salt-changed"
        ),
        pytest.param(
            put("accord.commitment", b64(bytes(32))), "commitment mismatch", id="commitment"
        ),
        pytest.param(forge_event, "inclusion failure", id="forged-event-recommitted"),
        pytest.param(
            put("accord.log.inclusion.0", b64(bytes(32))),
            "inclusion failure",
            id="inclusion-element",
        ),
        pytest.param(shorten_proof, "inclusion failure", id="inclusion-shortened"),
        pytest.param(put("accord.log.index", 0), "inclusion failure: .*leaf 0", id="index"),
        pytest.param(other_root, "inclusion failure", id="checkpoint-of-an-older-root"),
        pytest.param(other_log_key, "checkpoint failure: .*not signed", id="checkpoint-key"),
        pytest.param(other_origin, "checkpoint failure: .*other.example", id="checkpoint-origin"),
        pytest.param(put("accord.log.size", 5), "checkpoint failure: .*size", id="log-size"),
        pytest.param(drop("accord"), "malformed receipt: accord", id="no-evidence"),
        pytest.param(put("version", "KI-CR-v1.0.0"), "malformed receipt: version", id="version"),
        pytest.param(
            put("consentTimestamp", "1793523600"), "malformed receipt", id="timestamp-as-text"
        ),
        pytest.param(put("accord.salt", b64url(bytes(16))), "32 bytes", id="short-salt"),
        pytest.param(
            put("accord.event.record.retention_days", float("nan")),
            "malformed receipt: .*canonical JSON",
            id="nan-in-event",
        ),
        pytest.param(put("accord.salt", b64url(bytes(32)) + "="), "base64", id="salt-with-padding"),
    ],
)
def test_a_receipt_that_disagrees_with_the_log_is_refused(
    world: World, mutate: Mutation, message: str
) -> None:
    claims = copy.deepcopy(world.claims(1))  # the withdrawal of a brand's consent
    verify(world, sign_receipt(claims, world.signer, KID))  # the untouched receipt passes
    mutate(claims, world)
    token = sign_receipt(claims, world.signer, KID)
    with pytest.raises(ReceiptError, match=message):
        verify(world, token)


# --- a token the gateway did not sign as a receipt ---------------------------------------


def segment(value: dict[str, Any]) -> str:
    return b64url(json.dumps(value).encode())


def other_key_same_kid(world: World) -> str:
    signer, _ = es256_keys()
    return sign_receipt(world.claims(0), signer, KID)


def other_kid(world: World) -> str:
    signer, _ = es256_keys()
    return sign_receipt(world.claims(0), signer, "20261101-unknown")


def alg_none(world: World) -> str:
    header = {"alg": "none", "typ": "consent-receipt+jwt", "kid": KID}
    return f"{segment(header)}.{segment(world.claims(0))}."


def hs256_with_the_public_key(world: World) -> str:
    # The classic key confusion: an HMAC keyed with the (public) verification key.
    header = {"alg": "HS256", "typ": "consent-receipt+jwt", "kid": KID}
    signing_input = f"{segment(header)}.{segment(world.claims(0))}"
    secret = json.dumps(world.jwks["keys"][0]).encode()
    tag = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(tag)}"


def rs256_for_an_ec_kid(world: World) -> str:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return sign_receipt(world.claims(0), private, KID, alg="RS256")


def typed(typ: str | None) -> Callable[[World], str]:
    def token(world: World) -> str:
        headers = {"kid": KID} | ({"typ": typ} if typ else {})
        return jwt.encode(world.claims(0), world.signer, algorithm="ES256", headers=headers)

    return token


def payload_swapped(world: World) -> str:
    header, _, signature = world.token(0).split(".")
    return f"{header}.{world.token(1).split('.')[1]}.{signature}"


@pytest.mark.parametrize(
    ("make", "message"),
    [
        pytest.param(other_key_same_kid, "bad signature", id="jws-other-key"),
        pytest.param(payload_swapped, "bad signature", id="payload-swapped"),
        pytest.param(other_kid, "unknown kid", id="unknown-kid"),
        pytest.param(alg_none, "algorithm not allowed: 'none'", id="alg-none"),
        pytest.param(hs256_with_the_public_key, "algorithm not allowed: 'HS256'", id="hs256"),
        pytest.param(rs256_for_an_ec_kid, "algorithm not allowed: .*RS256", id="rs256-ec-key"),
        pytest.param(typed("JWT"), "wrong typ: 'JWT'", id="typ-jwt"),
        pytest.param(typed("at+jwt"), "wrong typ", id="typ-access-token"),
        pytest.param(typed(None), "wrong typ", id="typ-missing"),
        pytest.param(lambda world: "not.a.jws", "malformed receipt", id="not-a-jws"),
    ],
)
def test_a_token_not_signed_as_a_receipt_is_refused(
    world: World, make: Callable[[World], str], message: str
) -> None:
    with pytest.raises(ReceiptError, match=message):
        verify(world, make(world))


def test_an_explicit_typ_with_the_media_type_prefix_is_accepted(world: World) -> None:
    headers = {"kid": KID, "typ": "application/consent-receipt+jwt"}  # RFC 7515 §4.1.9
    token = jwt.encode(world.claims(3), world.signer, algorithm="ES256", headers=headers)
    assert verify(world, token).log_index == 3


@pytest.mark.parametrize(
    "jwks",
    [
        pytest.param({"keys": []}, id="empty"),
        pytest.param({}, id="no-keys-member"),
        pytest.param({"keys": "not a list"}, id="keys-not-a-list"),
    ],
)
def test_a_key_set_without_the_key_is_refused(world: World, jwks: dict[str, Any]) -> None:
    with pytest.raises(ReceiptError, match="unknown kid"):
        verify_receipt(world.token(0), jwks=jwks, log_verifier_key=world.verifier)


def test_a_wrong_log_verifier_key_is_refused(world: World) -> None:
    stranger = verifier_key(ORIGIN, Ed25519PrivateKey.generate().public_key())
    with pytest.raises(ReceiptError, match="checkpoint failure"):
        verify_receipt(world.token(0), jwks=world.jwks, log_verifier_key=stranger)
    with pytest.raises(ReceiptError, match="checkpoint failure"):
        verify_receipt(world.token(0), jwks=world.jwks, log_verifier_key="not a key")
