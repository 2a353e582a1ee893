"""Persons by platform account and by pairwise subject. Repositories never commit."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import delete, insert, select
from sqlmodel import Session

from gateway.db import among, chunks, core, insert_new_many
from gateway.errors import NotFound
from gateway.identity.models import PairwiseSubject, Person, PlatformAccount
from gateway.identity.pairwise import pairwise_sub
from gateway.members.models import Member

PERSON, ACCOUNT, SUBJECT = core(Person), core(PlatformAccount), core(PairwiseSubject)


class Persons:
    def __init__(self, session: Session, pairwise_key: bytes) -> None:
        self.session = session
        self._key = pairwise_key

    def of_account(self, platform_id: str, account_id: str, *, create: bool = False) -> str:
        """The person holding this platform account; a first sight creates one."""
        found = self.of_accounts(platform_id, [account_id], create=create)
        if account_id not in found:
            raise NotFound("no such account")
        return found[account_id]

    def of_accounts(
        self, platform_id: str, account_ids: Sequence[str], *, create: bool = False
    ) -> dict[str, str]:
        """account id -> person for these accounts of one platform; with ``create``, a
        first sight creates a person (one statement per table for all of them)."""
        if create:
            return self.link(platform_id, account_ids)[0]
        return self._persons_of(platform_id, account_ids)

    def link(self, platform_id: str, account_ids: Sequence[str]) -> tuple[dict[str, str], set[str]]:
        """account id -> person, creating a person for each account seen first; and
        which accounts this call created (see :meth:`unlink_new`)."""
        wanted = list(dict.fromkeys(account_ids))
        found = self._persons_of(platform_id, wanted)
        missing = [a for a in wanted if a not in found]
        if not missing:
            return found, set()
        new = {account: str(uuid.uuid4()) for account in missing}
        self.session.execute(
            insert(PERSON), [{"id": p, "minor_under_14": False} for p in new.values()]
        )
        linked = set(
            insert_new_many(
                self.session,
                ACCOUNT,
                [
                    {"platform_id": platform_id, "account_id": a, "person_id": p}
                    for a, p in new.items()
                ],
                key=ACCOUNT.c.account_id,
            )
        )
        lost = [a for a in missing if a not in linked]  # a concurrent first sight won
        if lost:
            self.session.execute(delete(PERSON).where(PERSON.c.id.in_([new[a] for a in lost])))
            found.update(self._persons_of(platform_id, lost))
        found.update({a: new[a] for a in missing if a in linked})
        return found, linked

    def unlink_new(self, platform_id: str, accounts: dict[str, str]) -> None:
        """Undo :meth:`link` for accounts it created in this transaction and nothing
        came to rest on (e.g. their consent was refused): no person is kept for nothing."""
        if not accounts:
            return
        self.session.execute(
            delete(ACCOUNT).where(
                ACCOUNT.c.platform_id == platform_id, ACCOUNT.c.account_id.in_(list(accounts))
            )
        )
        self.session.execute(delete(PERSON).where(PERSON.c.id.in_(list(accounts.values()))))

    def _persons_of(self, platform_id: str, account_ids: Sequence[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        for chunk in chunks(account_ids):
            rows = self.session.execute(
                select(ACCOUNT.c.account_id, ACCOUNT.c.person_id).where(
                    ACCOUNT.c.platform_id == platform_id, ACCOUNT.c.account_id.in_(chunk)
                )
            )
            found.update({str(a): str(p) for a, p in rows})
        return found

    def accounts(self, person_id: str) -> list[tuple[str, str]]:
        """``(platform id, account id)`` of every account linked to the person."""
        rows = self.session.execute(
            select(ACCOUNT.c.platform_id, ACCOUNT.c.account_id)
            .where(ACCOUNT.c.person_id == person_id)
            .order_by(ACCOUNT.c.linked_at)
        )
        return [(str(p), str(a)) for p, a in rows]

    def account_at(self, person_id: str, platform_id: str) -> str | None:
        return self.accounts_at([person_id], platform_id).get(person_id)

    def accounts_at(self, person_ids: Sequence[str], platform_id: str) -> dict[str, str]:
        """person -> their account id at the platform, for those who have one."""
        found: dict[str, str] = {}
        for chunk in chunks(person_ids):
            rows = self.session.execute(
                select(ACCOUNT.c.person_id, ACCOUNT.c.account_id).where(
                    ACCOUNT.c.person_id.in_(chunk), ACCOUNT.c.platform_id == platform_id
                )
            )
            found.update({str(p): str(a) for p, a in rows})
        return found

    def sub_of(self, person_id: str, member: Member) -> str:
        """The member's pairwise ``sub`` for the person (computed; nothing written)."""
        return pairwise_sub(self._key, member.sector, person_id)

    def subject(self, person_id: str, member: Member) -> str:
        """The member's pairwise ``sub`` for the person, remembered so the member can
        name the person by it later. Writes call this; reads use :meth:`sub_of`."""
        return self.subjects([(person_id, member)])[0]

    def subjects(self, pairs: Sequence[tuple[str, Member]]) -> list[str]:
        """:meth:`subject` for many (person, member) pairs, in one statement."""
        subs = [self.sub_of(person_id, member) for person_id, member in pairs]
        rows = {
            (member.sector, sub): {"sector": member.sector, "sub": sub, "person_id": person_id}
            for (person_id, member), sub in zip(pairs, subs, strict=True)
        }
        insert_new_many(self.session, SUBJECT, list(rows.values()))
        return subs

    def of_subject(self, member: Member, sub: str) -> str:
        found = self.session.execute(
            select(SUBJECT.c.person_id).where(
                SUBJECT.c.sector == member.sector, SUBJECT.c.sub == sub
            )
        ).scalar()
        if found is None:
            raise NotFound("no such subject")
        return str(found)

    def is_minor(self, person_id: str) -> bool:
        return person_id in self.minors([person_id])

    def minors(self, person_ids: Sequence[str]) -> set[str]:
        """Which of these persons are marked as under 14."""
        found: set[str] = set()
        for chosen in among(self.session, PERSON.c.id, person_ids):
            rows = self.session.execute(select(PERSON.c.id).where(chosen, PERSON.c.minor_under_14))
            found.update(str(p) for (p,) in rows)
        return found

    def mark_minors(self, person_ids: Sequence[str]) -> None:
        for chunk in chunks(person_ids):
            self.session.execute(
                PERSON.update().where(PERSON.c.id.in_(chunk)).values(minor_under_14=True)
            )
