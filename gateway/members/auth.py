"""How a member (platform or brand) authenticates to the gateway's member APIs.

Two credentials, the ones a member registered for the token endpoint:

- ``client_secret_basic`` (RFC 6749 §2.3.1): ``Authorization: Basic`` with the
  form-urlencoded client id and secret, compared against the keyed hash at rest;
- ``private_key_jwt`` (RFC 7523 §2.2, §3): ``Authorization: Bearer <assertion>``, a
  JWT the member signs with a key from its registered JWKS: ``iss`` = ``sub`` = its
  client id, ``aud`` = the gateway's issuer, a lifetime of at most five minutes and a
  ``jti`` never seen before (kept until the assertion expires, so a replay fails).

Every failure is the same 401: the caller learns nothing about which part was wrong.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, ClassVar
from urllib.parse import unquote

import jwt
from fastapi import Depends, Request, Response
from fastapi.routing import APIRoute
from sqlalchemy import delete
from sqlmodel import Session, select
from starlette.concurrency import run_in_threadpool

from gateway.db import core, insert_new, transaction, utcnow
from gateway.errors import Forbidden, Unauthorized
from gateway.members.models import AssertionJti, AuthMethod, Member, MemberKind, MemberStatus
from gateway.observability.context import note_client
from gateway.runtime import Runtime

ASSERTION_ALGORITHMS = ["ES256", "RS256", "EdDSA"]  # pinned; never "none" or HMAC
MAX_ASSERTION_LIFETIME = timedelta(minutes=5)
LEEWAY = timedelta(seconds=30)
JTI = core(AssertionJti)


class MemberUnauthorized(Unauthorized):
    headers: ClassVar[dict[str, str]] = {
        "WWW-Authenticate": 'Basic realm="accord", Bearer realm="accord"'
    }


def _refuse() -> MemberUnauthorized:
    return MemberUnauthorized("a valid member credential is required")


def authenticate(session: Session, rt: Runtime, authorization: str) -> Member:
    scheme, _, value = authorization.partition(" ")
    value = value.strip()
    if not value:
        raise _refuse()
    if scheme.lower() == "basic":
        member = _basic(session, rt, value)
    elif scheme.lower() == "bearer":
        member = _assertion(session, rt, value)
    else:
        raise _refuse()
    if member.status != MemberStatus.active:
        raise _refuse()
    return member


def _basic(session: Session, rt: Runtime, value: str) -> Member:
    client_id, secret = _pair(value)
    member = _known(rt, client_id) or _by_client_id(session, client_id, rt)
    return _with_secret(rt, member, secret)


def _pair(value: str) -> tuple[str, str]:
    """The client id and secret of a Basic credential (RFC 6749 §2.3.1)."""
    try:
        raw = base64.b64decode(value, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise _refuse() from None
    client_id, sep, secret = raw.partition(":")
    if not sep:
        raise _refuse()
    return unquote(client_id), unquote(secret)


def _with_secret(rt: Runtime, member: Member | None, secret: str) -> Member:
    stored = member.client_secret_hash if member else None
    if (
        member is None
        or stored is None
        or not AuthMethod(member.auth_method).has_secret
        or not rt.hasher.verify(secret, stored)
    ):
        raise _refuse()
    return member


def from_memory(rt: Runtime, authorization: str) -> Member | None:
    """The member a Basic credential names, from what this worker remembers (no
    database, no thread): None when the client is not remembered, or the credential is
    not Basic. A wrong secret for a remembered client is refused here."""
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() != "basic" or not value.strip():
        return None
    client_id, secret = _pair(value.strip())
    member = _known(rt, client_id)
    return None if member is None else _with_secret(rt, member, secret)


def _known(rt: Runtime, client_id: str) -> Member | None:
    """The active member with this client id, if this worker remembers it as current."""
    return rt.remembered.client(client_id) if 0 < len(client_id) <= 64 else None


def _assertion(session: Session, rt: Runtime, token: str) -> Member:
    return verify_assertion(session, rt, token, [rt.settings.issuer])


def verify_assertion(session: Session, rt: Runtime, token: str, audiences: list[str]) -> Member:
    """The member that signed this client assertion (RFC 7523 §3), its ``jti`` now
    spent; any failure is the same :class:`MemberUnauthorized`."""
    try:
        unverified = jwt.decode(token, options={"verify_signature": False})
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise _refuse() from None
    client_id = unverified.get("iss")
    # Read, never from memory: the jti is spent in the database anyway, and the express
    # lane's stand-in session must step aside (NeedsDatabase) before anything is spent.
    member = _by_client_id(session, client_id, rt) if isinstance(client_id, str) else None
    if member is None or member.auth_method != AuthMethod.private_key_jwt or not member.jwks:
        raise _refuse()
    key = _member_key(member.jwks, header.get("kid"), header.get("alg"))
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=ASSERTION_ALGORITHMS,
            audience=audiences,
            issuer=member.client_id,
            leeway=LEEWAY,
            options={"require": ["iss", "sub", "aud", "exp", "jti"]},
        )
    except jwt.PyJWTError:
        raise _refuse() from None
    expires = datetime.fromtimestamp(int(claims["exp"]), UTC)
    now = utcnow()
    issued = claims.get("iat")
    start = datetime.fromtimestamp(int(issued), UTC) if isinstance(issued, int) else now
    if claims["sub"] != member.client_id or expires - min(start, now) > MAX_ASSERTION_LIFETIME:
        raise _refuse()
    _remember_jti(rt, member.client_id, str(claims["jti"]), expires + LEEWAY)
    return member


def _member_key(jwks: dict[str, Any], kid: object, alg: object) -> Any:
    if alg not in ASSERTION_ALGORITHMS:
        raise _refuse()
    keys = [k for k in jwks.get("keys", []) if isinstance(k, dict)]
    matching = [k for k in keys if kid is None or k.get("kid") == kid]
    if len(matching) != 1:
        raise _refuse()
    try:
        return jwt.PyJWK(matching[0], algorithm=str(alg)).key
    except jwt.PyJWTError:
        raise _refuse() from None


def _remember_jti(rt: Runtime, client_id: str, jti: str, expires: datetime) -> None:
    """Record the jti in its own transaction: a replay must fail even if the request
    that first used it rolls back (RFC 7523 §3, item 7)."""
    if not 1 <= len(jti) <= 255:
        raise _refuse()
    with transaction(rt.sessions) as own:
        if not insert_new(own, JTI, {"client_id": client_id, "jti": jti, "expires_at": expires}):
            raise _refuse()


def prune_jtis(session: Session, now: datetime) -> int:
    """Forget jti values whose assertions have expired (the upkeep job runs this)."""
    result = session.execute(delete(JTI).where(JTI.c.expires_at < now).returning(JTI.c.jti))
    return len(result.all())


def _by_client_id(session: Session, client_id: str, rt: Runtime) -> Member | None:
    """The member with this client id, read; an active one is remembered (under the
    change tag taken before the read: :mod:`gateway.changes`)."""
    tag = rt.remembered.tag(session)
    member = session.exec(select(Member).where(Member.client_id == client_id)).first()
    if member is None or member.status != MemberStatus.active:
        return member
    return rt.remembered.keep_client(member, tag)


def member_of(request: Request) -> Member:
    member: Member | None = getattr(request.state, "member", None)
    if member is None:  # a route not behind MemberRoute asked for a member
        raise _refuse()
    return member


def platform_of(request: Request) -> Member:
    member = member_of(request)
    if member.kind != MemberKind.platform:
        raise Forbidden("only a member platform may call this")
    return member


def brand_of(request: Request) -> Member:
    member = member_of(request)
    if member.kind != MemberKind.brand:
        raise Forbidden("only a brand may call this")
    return member


# The dependencies are async: they do no I/O, so they take no thread hop.
async def _member(request: Request) -> Member:
    return member_of(request)


async def _platform(request: Request) -> Member:
    return platform_of(request)


async def _brand(request: Request) -> Member:
    return brand_of(request)


MemberDep = Annotated[Member, Depends(_member)]
PlatformDep = Annotated[Member, Depends(_platform)]
BrandDep = Annotated[Member, Depends(_brand)]


def _authenticate(rt: Runtime, header: str) -> Member:
    with rt.sessions() as session:
        return authenticate(session, rt, header)


class MemberRoute(APIRoute):
    """A route that authenticates the member before anything else, the body included."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            rt: Runtime = request.app.state.runtime
            header = request.headers.get("authorization")
            if not header:
                raise _refuse()
            member = from_memory(rt, header)  # no thread hop for a client remembered
            if member is None:
                member = await run_in_threadpool(_authenticate, rt, header)
            request.state.member = member
            note_client(member.client_id)  # the request's log lines name the member
            return await handler(request)

        return guarded
