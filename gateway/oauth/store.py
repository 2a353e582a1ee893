"""Grants, codes, refresh tokens and revocations, as the token endpoint needs them.

A *grant* is the family of every token issued from one authorization. A code is
redeemed once; a refresh token is used once and replaced (rotation). Redeeming is one
conditional UPDATE, so of two concurrent uses exactly one wins; the other, like any
later reuse, revokes the whole family, including the tokens of the first use
(RFC 6749 §4.1.2, RFC 9700 §4.14.2). Nothing here commits; the caller's transaction
does, and an OAuth error response commits too, so a revocation is never lost.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Column, CursorResult, Row, Table, and_, delete, select, update
from sqlmodel import Session

from gateway.db import core, insert_new
from gateway.members.models import Member
from gateway.oauth.models import (
    AuthorizationCode,
    Grant,
    Interaction,
    PushedRequest,
    RefreshToken,
    RevokedToken,
    SignInSession,
)
from gateway.oauth.remembered import Remembered
from gateway.oauth.scopes import MEMBER_API, OPENID, SSO_PURPOSE
from gateway.secret_hash import SecretHasher

GRANT, CODE, REFRESH = core(Grant), core(AuthorizationCode), core(RefreshToken)
REVOKED, PUSHED, INTERACTION = core(RevokedToken), core(PushedRequest), core(Interaction)
SESSION = core(SignInSession)


class Reason:
    code_reuse = "code_reuse"
    refresh_reuse = "refresh_reuse"
    revoked = "revoked"  # the client revoked its refresh token (RFC 7009)
    logout = "logout"
    person = "person"  # the person ended it in the consent center
    consent = "consent"  # the consent it rests on left force


@dataclass(frozen=True)
class Subject:
    """The person behind a grant, as the grants hand it to the token generator."""

    grant_id: str
    person_id: str
    member_id: str
    scope: str
    auth_time: datetime
    acr: str | None
    amr: tuple[str, ...]
    session_id: str | None


@dataclass(frozen=True)
class RedeemedCode:
    subject: Subject
    redirect_uri: str
    code_challenge: str
    nonce: str | None

    # What Authlib's code grant and its PKCE and OpenID extensions ask of a code.
    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.subject.scope

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int:
        return int(self.subject.auth_time.timestamp())

    def get_acr(self) -> str | None:
        return self.subject.acr

    def get_amr(self) -> list[str] | None:
        return list(self.subject.amr) or None

    @property
    def code_challenge_method(self) -> str:
        return "S256"  # the only method accepted (RFC 9700 §2.1.1)


@dataclass(frozen=True)
class RedeemedRefresh:
    subject: Subject

    def check_client(self, client: object) -> bool:
        return True  # redeemed for this client only (see Store.redeem_refresh)

    def get_scope(self) -> str:
        return self.subject.scope


def purposes_of(scope: str) -> set[str]:
    """The purposes a granted scope rests on (``openid`` is sign-in, ``identity.sso``)."""
    found: set[str] = set()
    for token in scope.split():
        if token == OPENID:
            found.add(SSO_PURPOSE)
        elif token != MEMBER_API:
            found.add(token.partition(":")[0])
    return found


def affected(result: object) -> int:
    """Rows an UPDATE or DELETE changed."""
    return int(cast(CursorResult[Any], result).rowcount or 0)


def _subject(row: object) -> Subject:
    r = row._mapping  # type: ignore[attr-defined]
    return Subject(
        grant_id=str(r["id"]),
        person_id=str(r["person_id"]),
        member_id=str(r["member_id"]),
        scope=str(r["scope"]),
        auth_time=r["auth_time"],
        acr=r["acr"],
        amr=tuple(r["amr"] or ()),
        session_id=r["session_id"],
    )


GRANT_COLUMNS = (
    GRANT.c.id,
    GRANT.c.person_id,
    GRANT.c.member_id,
    GRANT.c.scope,
    GRANT.c.auth_time,
    GRANT.c.acr,
    GRANT.c.amr,
    GRANT.c.session_id,
    GRANT.c.revoked_at,
)


class Store:
    def __init__(
        self, session: Session, hasher: SecretHasher, remembered: Remembered | None = None
    ) -> None:
        self.session = session
        self.hasher = hasher
        self.remembered = remembered

    # --- grants -------------------------------------------------------------------

    def open_grant(
        self,
        member: Member,
        person_id: str,
        scope: str,
        *,
        auth_time: datetime,
        acr: str | None,
        amr: Sequence[str],
        session_id: str | None,
        now: datetime,
    ) -> Subject:
        grant_id = str(uuid.uuid4())
        self.session.execute(
            GRANT.insert().values(
                id=grant_id,
                member_id=member.id,
                person_id=person_id,
                session_id=session_id,
                scope=scope,
                acr=acr,
                amr=list(amr),
                auth_time=auth_time,
                created_at=now,
            )
        )
        return Subject(
            grant_id, person_id, member.id, scope, auth_time, acr, tuple(amr), session_id
        )

    def revoke_grant(self, grant_id: str, reason: str, now: datetime) -> bool:
        """Revoke the whole family: its refresh tokens stop working at once and its
        access tokens introspect as inactive."""
        result = self.session.execute(
            update(GRANT)
            .where(GRANT.c.id == grant_id, GRANT.c.revoked_at.is_(None))
            .values(revoked_at=now, revoked_reason=reason)
        )
        return bool(affected(result))

    def grant(self, grant_id: str) -> tuple[Subject, bool] | None:
        """A grant and whether it is revoked."""
        row = self.session.execute(select(*GRANT_COLUMNS).where(GRANT.c.id == grant_id)).first()
        return None if row is None else (_subject(row), row.revoked_at is not None)

    def revoke_session_grants(self, session_id: str, reason: str, now: datetime) -> list[Subject]:
        """Revoke every live grant opened in a sign-in session (logout); those revoked."""
        rows = self.session.execute(
            update(GRANT)
            .where(GRANT.c.session_id == session_id, GRANT.c.revoked_at.is_(None))
            .values(revoked_at=now, revoked_reason=reason)
            .returning(*GRANT_COLUMNS)
        ).all()
        return [_subject(row) for row in rows]

    def revoke_resting_on(
        self, person_id: str, member_id: str, purpose: str, reason: str, now: datetime
    ) -> int:
        """Revoke the person's live grants to a member whose scope rests on ``purpose``
        (its consent left force: withdrawn, expired, revoked or invalidated)."""
        rows = self.session.execute(
            select(GRANT.c.id, GRANT.c.scope).where(
                GRANT.c.person_id == person_id,
                GRANT.c.member_id == member_id,
                GRANT.c.revoked_at.is_(None),
            )
        ).all()
        resting = [str(gid) for gid, scope in rows if purpose in purposes_of(str(scope))]
        if not resting:
            return 0
        result = self.session.execute(
            update(GRANT)
            .where(GRANT.c.id.in_(resting), GRANT.c.revoked_at.is_(None))
            .values(revoked_at=now, revoked_reason=reason)
        )
        return affected(result)

    def grant_revoked(self, grant_id: str) -> bool:
        revoked = self.session.execute(
            select(GRANT.c.revoked_at).where(GRANT.c.id == grant_id)
        ).first()
        return revoked is None or revoked[0] is not None

    # --- codes --------------------------------------------------------------------

    def save_code(
        self,
        code: str,
        subject: Subject,
        *,
        redirect_uri: str,
        code_challenge: str,
        nonce: str | None,
        expires_at: datetime,
    ) -> None:
        self.session.execute(
            CODE.insert().values(
                id=self.hasher.hash(code),
                grant_id=subject.grant_id,
                redirect_uri=redirect_uri,
                code_challenge=code_challenge,
                nonce=nonce,
                expires_at=expires_at,
            )
        )

    def redeem_code(self, code: str, member: Member, now: datetime) -> RedeemedCode | None:
        """The code's grant, once; a second use revokes the grant (RFC 6749 §4.1.2)."""
        columns = (CODE.c.redirect_uri, CODE.c.code_challenge, CODE.c.nonce)
        row = self._redeem(CODE, code, member, Reason.code_reuse, now, *columns)
        if row is None:
            return None
        return RedeemedCode(_subject(row), row.redirect_uri, row.code_challenge, row.nonce)

    def nonce_used(self, member: Member, nonce: str) -> bool:
        found = self.session.execute(
            select(CODE.c.id)
            .join(GRANT, GRANT.c.id == CODE.c.grant_id)
            .where(CODE.c.nonce == nonce, GRANT.c.member_id == member.id)
            .limit(1)
        ).first()
        return found is not None

    # --- refresh tokens -------------------------------------------------------------

    def save_refresh(self, value: str, subject: Subject, *, now: datetime, ttl: timedelta) -> None:
        self.session.execute(
            REFRESH.insert().values(
                id=self.hasher.hash(value),
                grant_id=subject.grant_id,
                issued_at=now,
                expires_at=now + ttl,
            )
        )

    def redeem_refresh(self, value: str, member: Member, now: datetime) -> RedeemedRefresh | None:
        """The token's grant, once (rotation); a reuse revokes the family."""
        row = self._redeem(REFRESH, value, member, Reason.refresh_reuse, now)
        return None if row is None else RedeemedRefresh(_subject(row))

    def refresh_state(self, value: str) -> tuple[Subject, datetime, bool] | None:
        """For introspection and revocation: the token's grant, expiry, and whether it
        is still usable (not used, grant not revoked)."""
        row = self._lookup(REFRESH, value)
        if row is None:
            return None
        usable = row.used_at is None and row.revoked_at is None
        return _subject(row), row.expires_at, usable

    # --- one-time credentials ------------------------------------------------------------

    def _lookup(self, table: Table, value: str, *columns: Column[Any]) -> Row[Any] | None:
        """A code or refresh token by its value, with its grant."""
        if not value or len(value) > 256:
            return None
        return self.session.execute(
            select(*GRANT_COLUMNS, table.c.id.label("credential_id"), *columns)
            .add_columns(table.c.expires_at, table.c.used_at)
            .join(GRANT, GRANT.c.id == table.c.grant_id)
            .where(table.c.id == self.hasher.hash(value))
        ).first()

    def _redeem(
        self,
        table: Table,
        value: str,
        member: Member,
        reuse: str,
        now: datetime,
        *columns: Column[Any],
    ) -> Row[Any] | None:
        """Use a credential once, with its grant: a conditional UPDATE, so of two
        concurrent uses one wins; the loser, like any later use, revokes the grant (the
        winner's tokens included)."""
        row = self._lookup(table, value, *columns)
        if row is None or row.member_id != member.id:
            return None
        if row.used_at is not None:
            self.revoke_grant(row.id, reuse, now)
            return None
        if row.expires_at <= now or row.revoked_at is not None:
            return None
        claimed = self.session.execute(
            update(table)
            .where(table.c.id == row.credential_id, table.c.used_at.is_(None))
            .values(used_at=now)
        )
        if not affected(claimed):
            self.revoke_grant(row.id, reuse, now)
            return None
        return row

    # --- access tokens ----------------------------------------------------------------

    def revoke_access(self, jti: str, expires_at: datetime) -> None:
        insert_new(self.session, REVOKED, {"jti": jti, "expires_at": expires_at})

    def access_revoked(self, jti: str, grant_id: str | None) -> bool:
        """Revoked on its own, or with its family (from memory when it can be)."""
        if self._remember(f"jti:{jti}", lambda: self._jti_revoked(jti)):
            return True
        return grant_id is not None and self._remember(
            f"gid:{grant_id}", lambda: self.grant_revoked(grant_id)
        )

    def _jti_revoked(self, jti: str) -> bool:
        found = self.session.execute(select(REVOKED.c.jti).where(REVOKED.c.jti == jti)).first()
        return found is not None

    def _remember(self, key: str, read: Callable[[], bool]) -> bool:
        if self.remembered is None:
            return read()
        known = self.remembered.revoked(key)
        if known is not None:
            return known
        tag = self.remembered.tag(self.session)
        revoked = read()
        self.remembered.keep_revoked(key, revoked, tag)
        return revoked


def prune(session: Session, now: datetime) -> int:
    """Forget what can no longer be used: expired codes, refresh tokens, revocations,
    pushed requests, interactions and sessions (the upkeep job runs this)."""
    removed = 0
    for table, column in (
        (CODE, CODE.c.expires_at),
        (REFRESH, REFRESH.c.expires_at),
        (REVOKED, REVOKED.c.expires_at),
        (PUSHED, PUSHED.c.expires_at),
        (INTERACTION, INTERACTION.c.expires_at),
        (SESSION, SESSION.c.expires_at),
    ):
        removed += affected(session.execute(delete(table).where(column < now)))
    # A grant is kept while a token of it may live; then only as history for the person.
    stale = delete(GRANT).where(
        and_(
            GRANT.c.revoked_at.is_not(None),
            GRANT.c.revoked_at < now - timedelta(days=30),
            ~select(REFRESH.c.id).where(REFRESH.c.grant_id == GRANT.c.id).exists(),
        )
    )
    removed += affected(session.execute(stale))
    return removed
