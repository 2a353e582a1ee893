"""Sign-in sessions at the gateway and the browser they belong to.

Two cookies, both ``HttpOnly``, ``SameSite=Lax``, ``Path=/`` and ``Secure`` when the
issuer is https: ``accord_browser`` names the browser (challenges and interactions are
bound to it) and ``accord_session`` holds the sign-in. Only keyed hashes of either are
stored. A session ends at logout or when it expires; ending it is one UPDATE.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlmodel import Session

from gateway.db import core, utcnow
from gateway.oauth.models import SignInSession
from gateway.secret_hash import SecretHasher

SESSION = core(SignInSession)
BROWSER_COOKIE = "accord_browser"
SESSION_COOKIE = "accord_session"
BROWSER_LIFETIME = timedelta(days=365)


def new_handle() -> str:
    return secrets.token_urlsafe(32)


@dataclass(frozen=True)
class SignedIn:
    id: str  # the stored hash, never the cookie
    person_id: str
    platform_id: str
    acr: str | None
    amr: tuple[str, ...]
    auth_time: datetime
    expires_at: datetime


class Sessions:
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

    def open(
        self, person_id: str, platform_id: str, acr: str | None, amr: Sequence[str]
    ) -> tuple[str, SignedIn]:
        """A new session (the cookie value, and the session)."""
        handle = new_handle()
        now = self.clock()
        signed = SignedIn(
            self.hasher.hash(handle), person_id, platform_id, acr, tuple(amr), now, now + self.ttl
        )
        self.session.execute(
            SESSION.insert().values(
                id=signed.id,
                person_id=person_id,
                platform_id=platform_id,
                acr=acr,
                amr=list(amr),
                auth_time=now,
                expires_at=signed.expires_at,
            )
        )
        return handle, signed

    def current(self, handle: str | None) -> SignedIn | None:
        """The live session behind a cookie, if any."""
        if not handle or len(handle) > 128:
            return None
        return self.by_id(self.hasher.hash(handle))

    def by_id(self, session_id: str) -> SignedIn | None:
        row = self.session.execute(select(SESSION).where(SESSION.c.id == session_id)).first()
        if row is None or row.ended_at is not None or row.expires_at <= self.clock():
            return None
        return _signed(row)

    def of_person(self, person_id: str) -> list[SignedIn]:
        """The person's live sessions, in any browser."""
        rows = self.session.execute(
            select(SESSION).where(
                SESSION.c.person_id == person_id,
                SESSION.c.ended_at.is_(None),
                SESSION.c.expires_at > self.clock(),
            )
        )
        return [_signed(row) for row in rows]

    def end_through(self, person_id: str, platform_id: str) -> None:
        """End the person's sessions opened through their account at a platform."""
        self.session.execute(
            update(SESSION)
            .where(
                SESSION.c.person_id == person_id,
                SESSION.c.platform_id == platform_id,
                SESSION.c.ended_at.is_(None),
            )
            .values(ended_at=self.clock())
        )

    def end(self, session_id: str) -> bool:
        result = self.session.execute(
            update(SESSION)
            .where(SESSION.c.id == session_id, SESSION.c.ended_at.is_(None))
            .values(ended_at=self.clock())
            .returning(SESSION.c.id)
        )
        return result.first() is not None


def _signed(row: Any) -> SignedIn:
    return SignedIn(
        row.id,
        row.person_id,
        row.platform_id,
        row.acr,
        tuple(row.amr or ()),
        row.auth_time,
        row.expires_at,
    )
