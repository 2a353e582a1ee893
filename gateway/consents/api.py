"""Consent APIs for members (platforms and brands) and the operator's notice versions.

Members authenticate with their registered credential (:mod:`gateway.members.auth`)
and only ever see records where they are the recipient, named by their own
identifier for the person: a platform's account id or the member's pairwise ``sub``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response

from consent import policy
from consent.journal import Evidence
from consent.records import Actor, History
from consent.taxonomy import RecipientKind
from gateway.consents import receipting, wire
from gateway.consents.service import Ask, Consents, Outcome, Terms
from gateway.db import utcnow
from gateway.edge import OperatorRoute, RuntimeDep, SessionDep
from gateway.errors import InvalidRequest, NotFound, problem_of
from gateway.members.auth import MemberDep, MemberRoute, PlatformDep
from gateway.members.models import Member, MemberKind
from gateway.runtime import Runtime

MAX_PAGE = 1000


def _consents(session: SessionDep, rt: RuntimeDep) -> Consents:
    return Consents(session, rt)


ConsentsDep = Annotated[Consents, Depends(_consents)]


def _evidence(rt: Runtime, collected: wire.Collected) -> Evidence:
    return Evidence(
        actor=Actor(collected.actor),
        method=collected.method,
        ip_hash=rt.hasher.hash(collected.ip) if collected.ip else None,
        user_agent=collected.user_agent,
    )


def _terms(body: wire.ConsentIn) -> Terms:
    return Terms(
        purpose=body.purpose,
        categories=frozenset(body.categories),
        notice_id=body.notice.id,
        notice_version=body.notice.version,
        valid_until=body.valid_until,
        separate=body.separate,
        guardian_ref=body.guardian_ref,
    )


def _person(consents: Consents, member: Member, account_id: str | None, sub: str | None) -> str:
    if (account_id is None) == (sub is None):
        raise InvalidRequest("name the person by exactly one of account_id or sub")
    if account_id is not None:
        if member.kind != MemberKind.platform:
            raise InvalidRequest("only a platform names people by account_id")
        return consents.persons.of_account(member.id, account_id)
    return consents.persons.of_subject(member, sub or "")


def _out(consents: Consents, member: Member, history: History) -> wire.ConsentOut:
    person = history.record.person_id
    account = (
        consents.persons.account_at(person, member.id)
        if member.kind == MemberKind.platform
        else None
    )
    return wire.consent_out(history, consents.persons.sub_of(person, member), account, utcnow())


def _record_all(
    consents: Consents, platform: Member, items: list[wire.ConsentIn], rt: Runtime
) -> list[Outcome]:
    """Record consents the platform collected, each checked on its own. A first-seen
    account makes a person, kept only if a consent of theirs was recorded; a minor's
    mark is kept the same way."""
    persons, created = consents.persons.link(platform.id, [i.account_id for i in items])
    outcomes = consents.give_many(
        [
            Ask(
                persons[item.account_id],
                platform,
                _terms(item),
                _evidence(rt, item.collected),
                minor=item.minor_under_14,
            )
            for item in items
        ]
    )
    kept = {i.account_id for i, o in zip(items, outcomes, strict=True) if isinstance(o, History)}
    consents.persons.mark_minors(
        [persons[i.account_id] for i in items if i.minor_under_14 and i.account_id in kept]
    )
    unused = {a: persons[a] for a in created - kept}  # as if the refused were never sent
    consents.persons.unlink_new(platform.id, unused)
    return outcomes


def _batch_out(
    consents: Consents, platform: Member, items: list[wire.ConsentIn], outcomes: list[Outcome]
) -> wire.ConsentBatchOut:
    now = utcnow()
    subjects: dict[str, str] = {}
    results: list[wire.BatchItem] = []
    for index, (item, outcome) in enumerate(zip(items, outcomes, strict=True)):
        if isinstance(outcome, History):
            person = outcome.record.person_id
            if person not in subjects:
                subjects[person] = consents.persons.sub_of(person, platform)
            out = wire.consent_out(outcome, subjects[person], item.account_id, now)
            results.append(wire.BatchItem(index=index, status=201, consent=out))
        else:
            error = problem_of(outcome)
            results.append(wire.BatchItem(index=index, status=error["status"], error=error))
    recorded = sum(1 for r in results if r.consent is not None)
    return wire.ConsentBatchOut(recorded=recorded, refused=len(results) - recorded, results=results)


def member_router() -> APIRouter:
    api = APIRouter(prefix="/v1", tags=["consents"], route_class=MemberRoute)

    @api.post("/consents", status_code=201, response_model=wire.ConsentOut)
    def record_consent(
        body: wire.ConsentIn,
        platform: PlatformDep,
        consents: ConsentsDep,
        rt: RuntimeDep,
        response: Response,
    ) -> wire.ConsentOut:
        """Record a consent the platform collected in its own UI (recipient: itself)."""
        (history,) = _record_all(consents, platform, [body], rt)
        if not isinstance(history, History):
            raise history  # and the transaction rolls back: nothing is kept
        response.headers["Location"] = f"/v1/consents/{history.record.record_id}"
        return _out(consents, platform, history)

    @api.post("/consents/batch", response_model=wire.ConsentBatchOut)
    def record_consents(
        body: wire.ConsentBatchIn, platform: PlatformDep, consents: ConsentsDep, rt: RuntimeDep
    ) -> wire.ConsentBatchOut:
        """Record up to 1,000 consents the platform collected, in one transaction. Each
        is checked on its own and answered on its own: a refused one (with the error
        the single call gives) does not hold the others back."""
        outcomes = _record_all(consents, platform, body.consents, rt)
        return _batch_out(consents, platform, body.consents, outcomes)

    @api.get("/consents", response_model=wire.ConsentList)
    def list_consents(
        member: MemberDep,
        consents: ConsentsDep,
        account_id: Annotated[str | None, Query(max_length=255)] = None,
        sub: Annotated[str | None, Query(max_length=64)] = None,
    ) -> wire.ConsentList:
        """A person's consents to this member, by the member's own identifier."""
        person = _person(consents, member, account_id, sub)
        return wire.ConsentList(
            consents=[_out(consents, member, h) for h in consents.of_person(person, member)]
        )

    @api.get("/consents/{record_id}", response_model=wire.ConsentOut)
    def get_consent(record_id: str, member: MemberDep, consents: ConsentsDep) -> wire.ConsentOut:
        return _out(consents, member, consents.record(record_id, member))

    @api.post("/consents/{record_id}/withdraw", response_model=wire.ConsentOut)
    def withdraw(
        record_id: str,
        platform: PlatformDep,
        consents: ConsentsDep,
        rt: RuntimeDep,
        body: wire.WithdrawIn | None = None,
    ) -> wire.ConsentOut:
        """The person's withdrawal, relayed by the platform they made it on: one call."""
        consents.record(record_id, platform)  # only the recipient's own records
        evidence = _evidence(rt, (body or wire.WithdrawIn()).collected)
        return _out(consents, platform, consents.withdraw(record_id, evidence))

    @api.post("/consents/{record_id}/revoke", response_model=wire.ConsentOut)
    def revoke(
        record_id: str,
        body: wire.RevokeIn,
        member: MemberDep,
        consents: ConsentsDep,
    ) -> wire.ConsentOut:
        """The recipient stops relying on a consent (e.g. it ends the processing)."""
        consents.record(record_id, member)
        evidence = Evidence(Actor.recipient, "api")
        return _out(consents, member, consents.journal.revoke(record_id, evidence, body.reason))

    @api.get(
        "/consents/{record_id}/receipts/{seq}",
        response_class=Response,
        responses={200: {"content": {"application/jwt": {}}}},
    )
    def receipt(
        record_id: str,
        seq: Annotated[int, Path(ge=0, le=10_000)],
        member: MemberDep,
        consents: ConsentsDep,
    ) -> Response:
        """The signed receipt of one event (Kantara v1.1 fields, with its log proof)."""
        token = receipting.issue(consents, record_id, seq, member)
        return Response(token, media_type="application/jwt", headers={"Cache-Control": "no-store"})

    @api.post("/decisions", response_model=wire.DecisionOut)
    def decide(body: wire.DecisionIn, member: MemberDep, consents: ConsentsDep) -> wire.DecisionOut:
        """May this member use these categories of the person for this purpose, now?"""
        try:
            person = _person(consents, member, body.account_id, body.sub)
        except NotFound:
            person = ""  # an unknown person has consented to nothing
        decision = consents.decide(
            policy.Question(
                person_id=person,
                recipient_id=member.id,
                recipient_kind=RecipientKind(member.kind),
                purpose=body.purpose,
                categories=frozenset(body.categories),
                at=utcnow(),
            )
        )
        return wire.DecisionOut(
            allowed=decision.allowed,
            granted_by=dict(decision.granted_by),
            denied={k: v.value for k, v in decision.denied.items()},
            reasons=[r.value for r in decision.reasons],
            explanation=decision.explain(),
        )

    @api.get("/eligibility", response_model=wire.EligibleList)
    def eligibility(
        platform: PlatformDep,
        consents: ConsentsDep,
        purpose: Annotated[str, Query(min_length=1, max_length=120)],
        cursor: Annotated[str | None, Query(max_length=36)] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 500,
    ) -> wire.EligibleList:
        """The platform's users whose consent to ``purpose`` is in force now (e.g. the
        participants of a training round). Each is checked by the one decision."""
        if purpose not in consents.rt.standard.purposes:
            raise InvalidRequest(f"unknown purpose {purpose!r}")
        now = utcnow()
        page, next_cursor = consents.eligible(platform, purpose, now, cursor, limit)
        accounts = [
            wire.Eligible(
                account_id=account,
                subject=consents.persons.sub_of(history.record.person_id, platform),
                record_id=history.record.record_id,
                categories=sorted(history.record.categories),
                valid_until=history.valid_until_at(now),
            )
            for history, account in page
        ]
        return wire.EligibleList(purpose=purpose, accounts=accounts, next_cursor=next_cursor)

    return api


def operator_router() -> APIRouter:
    api = APIRouter(prefix="/v1/admin", tags=["admin: notices"], route_class=OperatorRoute)

    @api.post("/notices/{notice_id}/versions", status_code=201, response_model=wire.NoticeOut)
    def publish(
        notice_id: Annotated[str, wire.Key],
        body: wire.NoticeIn,
        consents: ConsentsDep,
    ) -> wire.NoticeOut:
        """Publish a new version; consents under older versions become invalid."""
        version, invalidated = consents.publish_notice(notice_id, body.text, body.language)
        notice = consents.notices.get(notice_id, version)
        return wire.NoticeOut(**notice.model_dump(exclude={"text"}), invalidated=invalidated)

    return api


def public_router() -> APIRouter:
    api = APIRouter(prefix="/v1", tags=["notices"])

    @api.get("/notices/{notice_id}", response_model=wire.NoticeOut)
    def current_notice(notice_id: str, consents: ConsentsDep) -> wire.NoticeOut:
        notice = consents.notices.current(notice_id)
        if notice is None:
            raise NotFound(f"no notice {notice_id!r}")
        return wire.NoticeOut(**notice.model_dump())

    @api.get("/notices/{notice_id}/versions/{version}", response_model=wire.NoticeOut)
    def notice_version(
        notice_id: str, version: Annotated[int, Path(ge=1, le=2**31 - 1)], consents: ConsentsDep
    ) -> wire.NoticeOut:
        return wire.NoticeOut(**consents.notices.get(notice_id, version).model_dump())

    return api
