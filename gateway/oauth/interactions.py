"""Interactions: an authorization request the browser is completing.

``/authorize`` validates the request and keeps it here, bound to the browser; the
sign-in and consent pages carry only the interaction's handle, and every step checks
that the same browser presents it before it expires. Only the handle's hash is stored.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import delete, update
from sqlmodel import Session

from gateway.db import core, utcnow
from gateway.errors import ChallengeExpired, Forbidden, NotFound
from gateway.oauth.models import Interaction
from gateway.oauth.sessions import new_handle
from gateway.secret_hash import SecretHasher

INTERACTION = core(Interaction)


class Interactions:
    def __init__(
        self,
        session: Session,
        hasher: SecretHasher,
        ttl: timedelta,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.session = session
        self.hasher = hasher
        self.ttl = ttl
        self.clock = clock

    def start(
        self, member_id: str, browser: str, parameters: dict[str, str], session_id: str | None
    ) -> tuple[str, Interaction]:
        """A new interaction: its handle (for the pages) and its row."""
        handle = new_handle()
        row = Interaction(
            id=self.hasher.hash(handle),
            member_id=member_id,
            browser_hash=self.hasher.hash(browser),
            parameters=parameters,
            session_id=session_id,
            expires_at=self.clock() + self.ttl,
        )
        self.session.add(row)
        self.session.flush()
        return handle, row

    def load(self, handle: str, browser: str) -> Interaction:
        return self.by_id(self.hasher.hash(handle) if handle else "", browser)

    def by_id(self, interaction_id: str, browser: str) -> Interaction:
        row = self.session.get(Interaction, interaction_id) if interaction_id else None
        if row is None:
            raise NotFound("no such sign-in: start again from the application")
        if not self.hasher.verify(browser, row.browser_hash):
            raise Forbidden("this browser did not start the sign-in")
        if row.expires_at <= self.clock():
            raise ChallengeExpired("the sign-in took too long: start again from the application")
        return row

    def reissue(self, row: Interaction) -> str:
        """A fresh handle for the next page (the old one went through the platform)."""
        handle = new_handle()
        new_id = self.hasher.hash(handle)
        self.session.execute(
            update(INTERACTION).where(INTERACTION.c.id == row.id).values(id=new_id)
        )
        self.session.expunge(row)
        row.id = new_id
        return handle

    def attach(self, row: Interaction, session_id: str) -> None:
        self.session.execute(
            update(INTERACTION).where(INTERACTION.c.id == row.id).values(session_id=session_id)
        )
        row.session_id = session_id

    def finish(self, row: Interaction) -> bool:
        """Used up: the code (or the error) goes back to the client. One statement, so
        of two submissions of one page only one finishes it."""
        deleted = self.session.execute(
            delete(INTERACTION).where(INTERACTION.c.id == row.id).returning(INTERACTION.c.id)
        )
        return deleted.first() is not None
