"""Issue the signed receipt of one consent event (``consent.receipts``) from what the
gateway stores: the event and its salt, its leaf's index, and the latest checkpoint."""

from __future__ import annotations

from sqlalchemy import select

from consent.errors import LogError
from consent.receipts import Controller, LogProof, receipt_claims, sign_receipt
from gateway.consents import log_store
from gateway.consents.log_models import LogLeaf
from gateway.consents.models import ConsentEventRow
from gateway.consents.service import Consents
from gateway.consents.upkeep import sequence_log
from gateway.db import core, utcnow
from gateway.errors import Conflict, NotFound
from gateway.members.models import Member

EVENT, LEAF = core(ConsentEventRow), core(LogLeaf)


def issue(consents: Consents, record_id: str, seq: int, member: Member) -> str:
    """The compact JWS receipt for event ``seq`` of the member's record ``record_id``."""
    history = consents.record(record_id, member)
    if not 0 <= seq < len(history.events):
        raise NotFound("no such consent event")
    event = history.events[seq]
    evidence = (
        select(EVENT.c.principal, EVENT.c.salt, LEAF.c.idx)
        .join(LEAF, LEAF.c.id == EVENT.c.leaf_id)
        .where(EVENT.c.event_id == event.event_id)
    )
    row = consents.session.execute(evidence).one()
    if row.idx is None:  # queued, not yet sequenced: sequence now rather than fail
        sequence_log(consents.rt)
        row = consents.session.execute(evidence).one()
    latest = log_store.latest_checkpoint(consents.session)
    if row.idx is None or latest is None or latest.size <= row.idx:
        raise Conflict("the event is not in the log yet; ask again in a moment")
    rt = consents.rt
    identity = log_store.LogIdentity.for_issuer(rt.settings.issuer, rt.keys.log_key())
    log = log_store.reader(consents.session)
    try:
        path = log.inclusion_proof(int(row.idx), latest.size)
    except LogError:
        raise Conflict("the log is being extended; ask again in a moment") from None
    proof = LogProof(int(row.idx), latest.size, path, latest.note, identity.origin)
    recipient = consents.member(history.record.to.id)
    controller: Controller = {
        "name": recipient.name,
        "contact": recipient.contact_name,
        "email": recipient.contact_email,
    }
    if recipient.contact_phone:
        controller["phone"] = recipient.contact_phone
    if recipient.contact_address:
        controller["address"] = recipient.contact_address
    notice = history.record.notice
    base = rt.settings.issuer.rstrip("/")
    purpose = rt.standard.purposes.get(history.record.purpose)
    claims = receipt_claims(
        history.record,
        event,
        principal=str(row.principal),
        salt=bytes(row.salt),
        proof=proof,
        issuer=rt.settings.issuer,
        controller=controller,
        policy_url=f"{base}/v1/notices/{notice.id}/versions/{notice.version}",
        purpose_text=purpose.title.en if purpose else None,
        issued_at=utcnow(),
    )
    key = rt.keys.active()
    return sign_receipt(claims, key.signer(), key.kid, key.alg)
