"""Receipt claims in Kantara v1.1 field names, the log evidence they carry, and signing."""

from __future__ import annotations

import base64
import calendar
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from consent.canonical import commit, event_document, new_salt
from consent.checkpoint import Checkpoint, sign_checkpoint, verifier_key
from consent.errors import CheckpointError, LogError
from consent.ledger import MemoryNodeStore, MerkleLog
from consent.receipts import (
    RECEIPT_TYPE,
    RECEIPT_VERSION,
    Controller,
    LogProof,
    receipt_claims,
    sign_receipt,
    state_after,
)
from consent.records import ConsentEvent, ConsentRecord, ConsentState, EventType, History
from sdk import merkle
from tests.consent.builders import BRAND_A, PLATFORM, T0, event, granted, record, then

ORIGIN = "accord.example/consent-log"
ISSUER = "https://accord.example"
POLICY = "https://accord.example/privacy"
PRINCIPAL = "pairwise-3kq9w"  # the pseudonym the recipient knows the person by
PERSON = "person-internal-5d1e"
CONTROLLER: Controller = {
    "name": "Accord Alliance",
    "contact": "Data Protection Office",
    "email": "dpo@accord.example",
}
SALT = bytes(range(32))
LOG_KEY = Ed25519PrivateKey.generate()


def lifecycle(rec: ConsentRecord | None = None) -> History:
    """Given, renewed, withdrawn: three events of one record."""
    start = granted(rec or record(person_id=PERSON))
    renewal_end = T0 + timedelta(days=600)
    renewed = then(start, EventType.renewed, T0 + timedelta(days=300), valid_until=renewal_end)
    return then(renewed, EventType.withdrawn, T0 + timedelta(days=310))


def proofs(history: History, salt: bytes = SALT) -> list[LogProof]:
    """Log every event of ``history`` and prove each against one signed checkpoint."""
    log = MerkleLog(MemoryNodeStore())
    log.append_many([commit(history.record, e, PRINCIPAL, salt) for e in history.events])
    size = log.size()
    note = sign_checkpoint(Checkpoint(ORIGIN, size, log.root()), ORIGIN, LOG_KEY)
    return [LogProof(i, size, log.inclusion_proof(i, size), note, ORIGIN) for i in range(size)]


def claims(
    rec: ConsentRecord, ev: ConsentEvent, proof: LogProof, **overrides: Any
) -> dict[str, Any]:
    values: dict[str, Any] = {
        "principal": PRINCIPAL,
        "salt": SALT,
        "proof": proof,
        "issuer": ISSUER,
        "controller": CONTROLLER,
        "policy_url": POLICY,
    }
    values.update(overrides)
    return receipt_claims(rec, ev, **values)


def test_the_kantara_fields_restate_the_consent() -> None:
    history = lifecycle()
    rec, first = history.record, history.events[0]
    issued = datetime(2026, 11, 2, tzinfo=UTC)
    payload = claims(rec, first, proofs(history)[0], issued_at=issued)
    assert payload["version"] == RECEIPT_VERSION == "KI-CR-v1.1.0"
    assert payload["jurisdiction"] == "CN"
    assert payload["consentTimestamp"] == calendar.timegm(T0.timetuple())
    assert payload["collectionMethod"] == "consent_center"
    assert payload["consentReceiptID"] == f"{rec.receipt_id}.0"
    assert payload["language"] == "zh-CN"
    assert payload["piiPrincipalId"] == PRINCIPAL
    assert payload["piiControllers"] == [
        {
            "piiController": "Accord Alliance",
            "contact": "Data Protection Office",
            "email": "dpo@accord.example",
        }
    ]
    assert payload["policyUrl"] == POLICY
    assert "publicKey" not in payload  # the JWK Set names the key
    assert payload["services"] == [
        {
            "service": BRAND_A.name,
            "purposes": [
                {
                    "purpose": "marketing.brand_view",
                    "purposeCategory": ["marketing.brand_view"],
                    "consentType": "EXPLICIT",
                    "piiCategory": sorted(rec.categories),
                    "primaryPurpose": True,
                    "termination": "Valid until 2027-11-01T09:00:00.000000Z, or until "
                    "withdrawn at any time via https://accord.example/consents.",
                    "thirdPartyDisclosure": True,
                    "thirdPartyName": BRAND_A.name,
                }
            ],
        }
    ]
    assert (payload["sensitive"], payload["spiCat"]) == (False, [])
    assert payload["iss"] == ISSUER
    assert payload["iat"] == calendar.timegm(issued.timetuple())
    assert isinstance(payload["jti"], str) and payload["jti"]


def test_the_accord_extension_carries_the_log_evidence() -> None:
    history = lifecycle()
    rec, first = history.record, history.events[0]
    proof = proofs(history)[0]
    evidence = claims(rec, first, proof)["accord"]
    assert evidence["event"] == event_document(rec, first, PRINCIPAL)
    salt = base64.urlsafe_b64decode(evidence["salt"] + "=" * (-len(evidence["salt"]) % 4))
    assert salt == SALT and "=" not in evidence["salt"]
    assert base64.b64decode(evidence["commitment"]) == commit(rec, first, PRINCIPAL, SALT)
    assert evidence["state"] == "given"
    log = evidence["log"]
    assert (log["index"], log["size"], log["origin"]) == (0, 3, ORIGIN)
    assert [base64.b64decode(node) for node in log["inclusion"]] == list(proof.inclusion)
    assert log["checkpoint"] == proof.checkpoint


def test_one_receipt_per_event_with_the_state_after_it() -> None:
    history = lifecycle()
    issued = [
        claims(history.record, ev, proof)
        for ev, proof in zip(history.events, proofs(history), strict=True)
    ]
    rid = history.record.receipt_id
    assert [c["consentReceiptID"] for c in issued] == [f"{rid}.0", f"{rid}.1", f"{rid}.2"]
    assert [c["accord"]["state"] for c in issued] == ["given", "given", "withdrawn"]
    assert "2028-06-23T09:00:00.000000Z" in issued[1]["services"][0]["purposes"][0]["termination"]
    ended = issued[2]["services"][0]["purposes"][0]["termination"]
    assert ended == "Ended (withdrawn) at 2027-09-07T09:00:00.000000Z."
    assert len({c["jti"] for c in issued}) == 3


@pytest.mark.parametrize(
    ("kind", "state"),
    [
        pytest.param(EventType.given, ConsentState.given, id="given"),
        pytest.param(EventType.renewed, ConsentState.given, id="renewed"),
        pytest.param(EventType.withdrawn, ConsentState.withdrawn, id="withdrawn"),
        pytest.param(EventType.revoked, ConsentState.revoked, id="revoked"),
        pytest.param(EventType.expired, ConsentState.expired, id="expired"),
        pytest.param(EventType.invalidated, ConsentState.invalidated, id="invalidated"),
    ],
)
def test_state_after_each_event_type(kind: EventType, state: ConsentState) -> None:
    rec = record()
    assert state_after(event(rec, 1, kind, T0)) is state


def test_a_platform_is_no_third_party_and_sensitive_data_is_listed() -> None:
    rec = record(
        recipient=PLATFORM,
        sensitive=True,
        categories=frozenset({"user.health.dietary_restriction"}),
        person_id=PERSON,
    )
    history = granted(rec)
    payload = claims(rec, history.events[0], proofs(history)[0])
    purpose = payload["services"][0]["purposes"][0]
    assert payload["services"][0]["service"] == PLATFORM.name
    assert purpose["thirdPartyDisclosure"] is False and "thirdPartyName" not in purpose
    assert (payload["sensitive"], payload["spiCat"]) == (True, ["user.health.dietary_restriction"])


def test_controller_optional_fields_use_kantara_names() -> None:
    history = lifecycle()
    controller: Controller = {
        **CONTROLLER,
        "address": "1 Alliance Road, Shanghai",
        "phone": "+86 21 0000 0000",
        "url": "https://accord.example",
    }
    payload = claims(history.record, history.events[0], proofs(history)[0], controller=controller)
    entry = payload["piiControllers"][0]
    assert entry["address"] == "1 Alliance Road, Shanghai"
    assert entry["phone"] == "+86 21 0000 0000"
    assert entry["piiControllerUrl"] == "https://accord.example"
    assert "url" not in entry


def test_a_purpose_title_replaces_the_key_but_not_the_category() -> None:
    history = lifecycle()
    payload = claims(
        history.record, history.events[0], proofs(history)[0], purpose_text="Brand view"
    )
    purpose = payload["services"][0]["purposes"][0]
    assert (purpose["purpose"], purpose["purposeCategory"]) == (
        "Brand view",
        ["marketing.brand_view"],
    )


def test_the_person_id_never_appears() -> None:
    history = lifecycle()
    key = ec.generate_private_key(ec.SECP256R1())
    for ev, proof in zip(history.events, proofs(history), strict=True):
        token = sign_receipt(claims(history.record, ev, proof), key, "k1")
        payload = jwt.decode(token, key.public_key(), algorithms=["ES256"])
        assert PERSON not in json.dumps(payload, ensure_ascii=False)
        assert PERSON not in token


def test_the_person_id_is_refused_as_principal() -> None:
    history = lifecycle()
    with pytest.raises(ValueError, match="pseudonym"):
        claims(history.record, history.events[0], proofs(history)[0], principal=PERSON)


def test_a_salt_of_the_wrong_size_is_refused() -> None:
    history = lifecycle()
    with pytest.raises(LogError, match="32 bytes"):
        claims(history.record, history.events[0], proofs(history)[0], salt=new_salt()[:16])


def test_sign_receipt_writes_a_typed_es256_jws() -> None:
    history = lifecycle()
    payload = claims(history.record, history.events[0], proofs(history)[0])
    key = ec.generate_private_key(ec.SECP256R1())
    token = sign_receipt(payload, key, "2026-k1")
    header = jwt.get_unverified_header(token)
    assert (header["typ"], header["kid"], header["alg"]) == (RECEIPT_TYPE, "2026-k1", "ES256")
    assert jwt.decode(token, key.public_key(), algorithms=["ES256"]) == payload


@pytest.mark.parametrize("alg", [pytest.param("HS256", id="hmac"), pytest.param("none", id="none")])
def test_sign_receipt_pins_its_algorithms(alg: str) -> None:
    history = lifecycle()
    payload = claims(history.record, history.events[0], proofs(history)[0])
    with pytest.raises(ValueError, match="unsupported algorithm"):
        sign_receipt(payload, "a-shared-secret-that-must-never-sign", "k1", alg=alg)


@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        pytest.param({"index": 3}, LogError, "outside", id="index-past-size"),
        pytest.param({"index": -1}, LogError, "outside", id="negative-index"),
        pytest.param({"inclusion": [b"short"]}, LogError, "32-byte", id="short-hash"),
        pytest.param({"size": 2}, CheckpointError, "size 3", id="size-not-checkpoint"),
        pytest.param({"origin": "other.example/log"}, CheckpointError, "proof for", id="origin"),
        pytest.param({"checkpoint": "no signature\n"}, CheckpointError, "signed note", id="note"),
    ],
)
def test_a_log_proof_must_agree_with_its_checkpoint(
    change: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        replace(proofs(lifecycle())[1], **change)


def test_a_log_proof_is_frozen_and_proves_its_event() -> None:
    history = lifecycle()
    verifier = verifier_key(ORIGIN, LOG_KEY.public_key())
    for ev, proof in zip(history.events, proofs(history), strict=True):
        assert isinstance(proof.inclusion, tuple)
        # Checked by the SDK's independent RFC 9162 verifier, not by the log's own code.
        head = merkle.open_checkpoint(proof.checkpoint, verifier)
        leaf = commit(history.record, ev, PRINCIPAL, SALT)
        assert merkle.verify_inclusion(leaf, proof.index, proof.size, proof.inclusion, head.root)
