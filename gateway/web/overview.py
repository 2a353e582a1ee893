"""What the consent center shows a signed-in person, read in one transaction.

Consents in force are grouped by recipient, each group with the recipient's name and
contact (PIPL Art. 23); consents no longer in force are kept apart as history, with
when and how they ended. Purposes and categories carry their titles from the data
standard, in the page's language. Then the access log (who read what, when) and the
person's export and erasure requests, however they came.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from consent.records import ENDING_EVENTS, ConsentState, History
from consent.taxonomy import DataStandard
from gateway.consents.service import Consents
from gateway.identity.hints import Suggestion, hints_of
from gateway.identity.links import Linked, Links
from gateway.members.models import Member
from gateway.oauth.authorize import Authorization
from gateway.rights.service import Asked, Rights
from gateway.runtime import Runtime
from gateway.views.access_log import Access, AccessLog


@dataclass(frozen=True)
class Recipient:
    """One recipient and the person's consents to it that are in force."""

    id: str
    name: str
    contact_name: str
    contact_email: str | None
    contact_phone: str | None
    consents: tuple[History, ...]


@dataclass(frozen=True)
class Ended:
    """A consent no longer in force: how and when it ended."""

    history: History
    recipient: str
    state: ConsentState
    at: datetime


@dataclass(frozen=True)
class Overview:
    accounts: list[Linked]
    linkable: list[Member]
    suggestions: list[Suggestion]  # link hints: never a link by themselves
    recipients: list[Recipient]
    ended: list[Ended]
    access: list[Access]
    requests: list[Asked]
    purposes: dict[str, str]  # purpose key -> title, in the page's language
    categories: dict[str, str]  # category key -> title, in the page's language
    now: datetime


def overview(session: Session, rt: Runtime, person_id: str, lang: str) -> Overview:
    flow = Authorization(session, rt)
    now = flow.clock()
    accounts = Links(session, rt).accounts(person_id)
    linked = {a.platform.id for a in accounts}
    consents = Consents(session, rt)
    histories = consents.of_person(person_id)
    members = {m.id: m for m in _members(session, histories)}
    current: dict[str, list[History]] = {}
    ended: list[Ended] = []
    for history in histories:
        state = history.state_at(now)
        if state is ConsentState.given:  # in force, or valid from a later date
            current.setdefault(history.record.to.id, []).append(history)
        elif state is not None:
            ended.append(Ended(history, _name(members, history), state, _ended_at(history, now)))
    access = AccessLog(session).of_person(person_id)
    used_categories = [c for h in histories for c in h.record.categories]
    used_categories += [c for a in access for c in a.categories]
    return Overview(
        accounts=accounts,
        linkable=[p for p in flow.platforms() if p.id not in linked],
        suggestions=hints_of(session, rt).suggestions(person_id),
        recipients=sorted(
            (_recipient(rid, members.get(rid), group) for rid, group in current.items()),
            key=lambda r: (r.name.casefold(), r.id),
        ),
        ended=sorted(ended, key=lambda e: e.at, reverse=True),
        access=access,
        requests=Rights(session, rt).of_person(person_id),
        purposes=_purpose_titles(rt.standard, lang),
        categories=_category_titles(rt.standard, lang, used_categories),
        now=now,
    )


def _members(session: Session, histories: list[History]) -> list[Member]:
    ids = {h.record.to.id for h in histories}
    return [m for m in (session.get(Member, i) for i in sorted(ids)) if m is not None]


def _name(members: dict[str, Member], history: History) -> str:
    member = members.get(history.record.to.id)
    return member.name if member else history.record.to.name


def _recipient(rid: str, member: Member | None, group: list[History]) -> Recipient:
    ordered = tuple(sorted(group, key=lambda h: (h.record.purpose, h.record.valid_from)))
    if member is None:  # a member since removed: what the record itself names
        to = group[0].record.to
        return Recipient(rid, to.name, to.contact, None, None, ordered)
    return Recipient(
        rid,
        member.name,
        member.contact_name,
        member.contact_email,
        member.contact_phone,
        ordered,
    )


def _ended_at(history: History, now: datetime) -> datetime:
    last = history.events[-1] if history.events else None
    if last is not None and last.type in ENDING_EVENTS and last.at <= now:
        return last.at
    return history.valid_until_at(now)  # lapsed, the expiry job not yet run


def _purpose_titles(standard: DataStandard, lang: str) -> dict[str, str]:
    return {key: getattr(p.title, lang) for key, p in standard.purposes.items()}


def _category_titles(standard: DataStandard, lang: str, keys: Iterable[str]) -> dict[str, str]:
    known = standard.categories
    return {key: getattr(known[key].title, lang) for key in set(keys) if key in known}
