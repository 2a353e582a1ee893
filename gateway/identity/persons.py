"""Persons by platform account and by pairwise subject. Repositories never commit."""

from __future__ import annotations

import uuid

from sqlalchemy import delete, insert, select
from sqlmodel import Session

from gateway.db import core, insert_new
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
        found = self.session.execute(
            select(ACCOUNT.c.person_id).where(
                ACCOUNT.c.platform_id == platform_id, ACCOUNT.c.account_id == account_id
            )
        ).scalar()
        if found is not None:
            return str(found)
        if not create:
            raise NotFound("no such account")
        person_id = str(uuid.uuid4())
        self.session.execute(insert(PERSON).values(id=person_id, minor_under_14=False))
        linked = insert_new(
            self.session,
            ACCOUNT,
            {"platform_id": platform_id, "account_id": account_id, "person_id": person_id},
        )
        if not linked:  # a concurrent first sight won: use its person
            self.session.execute(delete(PERSON).where(PERSON.c.id == person_id))
            return self.of_account(platform_id, account_id)
        return person_id

    def accounts(self, person_id: str) -> list[tuple[str, str]]:
        """``(platform id, account id)`` of every account linked to the person."""
        rows = self.session.execute(
            select(ACCOUNT.c.platform_id, ACCOUNT.c.account_id)
            .where(ACCOUNT.c.person_id == person_id)
            .order_by(ACCOUNT.c.linked_at)
        )
        return [(str(p), str(a)) for p, a in rows]

    def account_at(self, person_id: str, platform_id: str) -> str | None:
        return self.session.execute(
            select(ACCOUNT.c.account_id).where(
                ACCOUNT.c.person_id == person_id, ACCOUNT.c.platform_id == platform_id
            )
        ).scalar()

    def sub_of(self, person_id: str, member: Member) -> str:
        """The member's pairwise ``sub`` for the person (computed; nothing written)."""
        return pairwise_sub(self._key, member.sector, person_id)

    def subject(self, person_id: str, member: Member) -> str:
        """The member's pairwise ``sub`` for the person, remembered so the member can
        name the person by it later. Writes call this; reads use :meth:`sub_of`."""
        sub = self.sub_of(person_id, member)
        insert_new(
            self.session, SUBJECT, {"sector": member.sector, "sub": sub, "person_id": person_id}
        )
        return sub

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
        return bool(
            self.session.execute(
                select(PERSON.c.minor_under_14).where(PERSON.c.id == person_id)
            ).scalar()
        )

    def mark_minor(self, person_id: str) -> None:
        self.session.execute(
            PERSON.update().where(PERSON.c.id == person_id).values(minor_under_14=True)
        )
