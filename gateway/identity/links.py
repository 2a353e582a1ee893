"""Account links: one person, several platform accounts.

A signed-in person links another platform through a *link challenge* at that platform
(the same round trip as sign-in). The proven account is not linked yet: it waits as a
*pending link* until the person confirms it on a page of the gateway. Then:

- an account no one holds is linked, as a consent event (purpose ``identity.linking``
  to that platform, in the consent log like any other) announced to the platform by a
  link-added SET;
- an account linked to the same person already changes nothing;
- an account linked to *another* person is never moved silently: the person sees that
  confirming merges the two identities, and a merge needs proof of both sides, which is
  what the pending link holds: the session proves one identity, the fresh link challenge
  an account of the other. The absorbed identity's accounts, consent records, rights
  requests and access log move over; its sessions and grants end; its pseudonyms retire.

Unlinking removes the account and withdraws its ``identity.linking`` consent, with a
link-removed SET to the platform; removing the last account erases the person (an
erasure request carried out at once). Repositories never commit.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlmodel import Session

from consent.journal import Evidence
from gateway.consents import signals
from gateway.consents import store as consent_store
from gateway.consents.service import Consents, Terms
from gateway.db import core, utcnow
from gateway.errors import Conflict, Forbidden, NotFound
from gateway.events import types
from gateway.events.outbox import emit
from gateway.identity.hints import hints_of
from gateway.identity.models import LoginChallenge, PendingLink
from gateway.identity.persons import ACCOUNT, PERSON, SUBJECT
from gateway.members.models import Member
from gateway.oauth.sessions import Sessions, SignedIn
from gateway.rights.models import RightsRequestRow
from gateway.rights.service import Rights
from gateway.runtime import Runtime
from gateway.views import store as attributes
from gateway.views.models import AccessEntry

PENDING, REQUEST, ACCESS = core(PendingLink), core(RightsRequestRow), core(AccessEntry)
LINK_PURPOSE = "identity.linking"
LINK_CATEGORIES = frozenset({"user.account.platform_account"})
LINK_NOTICE = "accord-link-screen"
LINK_LANGUAGE = "zh-CN"
LINK_TEXT = (
    "Accord account linking. Linking a platform account to your Accord identity lets you"
    " sign in through it and manage it with your other linked accounts; the platform learns"
    " that its account is linked, and nothing about your other accounts. You can unlink it"
    " at any time in the consent center; unlinking your last account erases your identity.\n"
    "联盟账号关联。将平台账号关联到您的联盟身份后，您可以通过它登录，并与其他已关联账号统一管理；"
    "该平台只会得知其账号已被关联，不会得知您的其他账号。您可以随时在授权中心解除关联；"
    "解除最后一个账号的关联将删除您的联盟身份。"
)


@dataclass(frozen=True)
class Linked:
    platform: Member
    account_id: str
    linked_at: datetime


@dataclass(frozen=True)
class Proposal:
    """A proven account awaiting the person's word: link it, or merge its identity."""

    handle: str  # the confirmation page's; empty when there is nothing to confirm
    platform: Member
    account_id: str
    merge: bool  # the account belongs to another identity
    already: bool  # the account is linked to this person already


class Links:
    def __init__(
        self, session: Session, rt: Runtime, *, clock: Callable[[], datetime] = utcnow
    ) -> None:
        self.session = session
        self.rt = rt
        self.clock = clock
        self.consents = Consents(session, rt)
        self.persons = self.consents.persons
        self.ttl = timedelta(seconds=rt.settings.challenge_ttl)

    # --- reading ------------------------------------------------------------------------

    def accounts(self, person_id: str) -> list[Linked]:
        rows = self.session.execute(
            select(ACCOUNT.c.platform_id, ACCOUNT.c.account_id, ACCOUNT.c.linked_at)
            .where(ACCOUNT.c.person_id == person_id)
            .order_by(ACCOUNT.c.linked_at)
        ).all()
        return [Linked(self._member(p), str(a), at) for p, a, at in rows]

    # --- the link round trip -------------------------------------------------------------

    def propose(self, challenge: LoginChallenge, signed: SignedIn, browser: str) -> Proposal:
        """A completed link challenge, as the confirmation page shows it."""
        if challenge.context.get("session") != signed.id:
            raise Forbidden("this link was started in another sign-in: start again")
        if challenge.account_id is None:
            raise Conflict("the platform did not vouch for an account")
        platform = self._member(challenge.platform_id)
        owner = self._owner(platform.id, challenge.account_id)
        if owner == signed.person_id:
            return Proposal("", platform, challenge.account_id, merge=False, already=True)
        handle = secrets.token_urlsafe(32)
        self.session.execute(
            PENDING.insert().values(
                id=self.rt.hasher.hash(handle),
                person_id=signed.person_id,
                session_id=signed.id,
                browser_hash=self.rt.hasher.hash(browser),
                platform_id=platform.id,
                account_id=challenge.account_id,
                other_person_id=owner,
                identifiers=challenge.identifiers,
                expires_at=self.clock() + self.ttl,
            )
        )
        return Proposal(
            handle, platform, challenge.account_id, merge=owner is not None, already=False
        )

    def confirm(
        self, handle: str, browser: str, signed: SignedIn, evidence: Evidence, *, merge: bool
    ) -> Linked:
        """The person confirmed: link the account, or merge its identity into theirs.
        The pending link is used once, whatever the outcome."""
        row = self.session.execute(
            delete(PENDING).where(PENDING.c.id == self.rt.hasher.hash(handle)).returning(PENDING)
        ).first()
        if row is None or row.expires_at <= self.clock():
            raise NotFound("this link has expired or was already confirmed: start again")
        if not self.rt.hasher.verify(browser, row.browser_hash) or row.session_id != signed.id:
            raise Forbidden("this link was started in another browser or sign-in")
        platform = self._member(row.platform_id)
        owner = self._owner(platform.id, row.account_id)
        if owner is not None and owner != signed.person_id:
            if owner != row.other_person_id or not merge:
                raise Conflict(
                    "this account belongs to another Accord identity; it is never moved"
                    " without your confirmation of the merge"
                )
            self._merge(signed.person_id, owner)
        elif owner is None:
            self.session.execute(
                ACCOUNT.insert().values(
                    platform_id=platform.id,
                    account_id=row.account_id,
                    person_id=signed.person_id,
                    linked_at=self.clock(),
                )
            )
        hints_of(self.session, self.rt).remember(platform.id, row.account_id, row.identifiers)
        self._record_link(signed.person_id, platform, row.account_id, evidence)
        return Linked(platform, row.account_id, self.clock())

    # --- unlinking -------------------------------------------------------------------------

    def unlink(self, person_id: str, platform_id: str, evidence: Evidence) -> bool:
        """Remove the person's account at a platform; True when that was the last one
        and the person is now erased."""
        platform = self._member(platform_id)
        account = self.persons.account_at(person_id, platform.id)
        if account is None:
            raise NotFound("no account of yours at this platform")
        remaining = [a for a in self.accounts(person_id) if a.platform.id != platform.id]
        if not remaining:
            Rights(self.session, self.rt).erase_now(person_id, platform, self.clock())
            return True
        for history in self.consents.of_person(person_id, platform):
            record = history.record
            if record.purpose == LINK_PURPOSE and history.in_force_at(self.clock()):
                self.consents.withdraw(record.record_id, evidence)
        self._announce(types.IDENTITY_LINK_REMOVED, person_id, platform, account)
        self.session.execute(
            delete(ACCOUNT).where(
                ACCOUNT.c.platform_id == platform.id, ACCOUNT.c.account_id == account
            )
        )
        # What that platform pushed of the person was theirs through that account.
        attributes.drop_platform(self.rt.standard, self.session, person_id, platform.id)
        # A session opened through that account proved an account that is no longer theirs.
        session_ttl = timedelta(seconds=self.rt.settings.session_ttl)
        sessions = Sessions(self.session, self.rt.hasher, session_ttl, self.clock)
        sessions.end_through(person_id, platform.id)
        return False

    # --- internals -------------------------------------------------------------------------

    def _record_link(
        self, person_id: str, platform: Member, account_id: str, evidence: Evidence
    ) -> None:
        version = self._notice_version()
        self.consents.give(
            person_id,
            platform,
            Terms(LINK_PURPOSE, LINK_CATEGORIES, LINK_NOTICE, version),
            evidence,
            at=self.clock(),
        )
        self._announce(types.IDENTITY_LINK_ADDED, person_id, platform, account_id)

    def _announce(self, event_type: str, person_id: str, platform: Member, account: str) -> None:
        sub = self.persons.subject(person_id, platform)
        emit(
            self.session,
            recipient_id=platform.id,
            event_type=event_type,
            subject=signals.subject(self.rt.settings.issuer, sub),
            event={
                "platform_user_id": account,
                "event_timestamp": int(self.clock().timestamp()),
                "initiating_entity": "user",
            },
        )

    def _merge(self, into: str, other: str) -> None:
        """Fold ``other`` into ``into``: accounts, consent records and rights requests
        move; sessions and grants of ``other`` end with it; its pseudonyms retire."""
        self.session.execute(
            update(ACCOUNT).where(ACCOUNT.c.person_id == other).values(person_id=into)
        )
        record = consent_store.RECORD
        self.session.execute(
            update(record).where(record.c.person_id == other).values(person_id=into)
        )
        self.session.execute(
            update(REQUEST).where(REQUEST.c.person_id == other).values(person_id=into)
        )
        self.session.execute(
            update(ACCESS).where(ACCESS.c.person_id == other).values(person_id=into)
        )
        attributes.move(self.rt.standard, self.session, into, other)
        if self.persons.is_minor(other):
            self.persons.mark_minors([into])
        self.session.execute(delete(SUBJECT).where(SUBJECT.c.person_id == other))
        # ON DELETE CASCADE: its sessions, grants (their tokens go inactive) and links pending.
        self.session.execute(delete(PERSON).where(PERSON.c.id == other))

    def _owner(self, platform_id: str, account_id: str) -> str | None:
        return self.persons.of_accounts(platform_id, [account_id]).get(account_id)

    def _member(self, member_id: Any) -> Member:
        member = self.session.get(Member, str(member_id))
        if member is None:
            raise NotFound("no such platform")
        return member

    def _notice_version(self) -> int:
        head = self.consents.notices.head(LINK_NOTICE)
        if head is not None:
            return head.version
        return self.consents.notices.publish(LINK_NOTICE, LINK_TEXT, LINK_LANGUAGE).version
