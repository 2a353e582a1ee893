"""The platform's side of sign-in: read, accept or reject a login or link challenge.

The challenge travels in the request body, never in a path or query string, so proxies
and access logs do not keep it. Only the platform the person chose may see or answer
it; to any other member it does not exist.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import select

from gateway.edge import RuntimeDep, SessionDep
from gateway.identity.challenges import Acceptance, ChallengeKind, Challenges, Identifier
from gateway.identity.hints import hints_of
from gateway.members.auth import MemberRoute, PlatformDep
from gateway.members.models import Member
from gateway.ratelimit.guard import member_limit

Token = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_\-]+$")
# RFC 8176 method references are short tokens ("pwd", "otp", "sms", "face", ...).
AmrValue = Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[a-z0-9_\-]+$")]
# A platform-salted SHA-256, base64url without padding: 43 characters.
IdentifierHash = Field(min_length=43, max_length=43, pattern=r"^[A-Za-z0-9_\-]{43}$")
# OpenID Connect / OAuth error codes a platform may answer with.
RejectError = Literal["access_denied", "login_required", "account_selection_required"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ChallengeIn(Strict):
    challenge: str = Token


class VerifiedIdentifier(Strict):
    type: Literal["phone", "email"]
    hash: str = IdentifierHash
    salt_version: int = Field(ge=1, le=1_000_000)


class AcceptIn(ChallengeIn):
    account_id: str = Field(min_length=1, max_length=255, description="the platform's user id")
    acr: str | None = Field(default=None, min_length=1, max_length=64)
    amr: list[AmrValue] = Field(default_factory=list, max_length=8)
    verified_identifiers: list[VerifiedIdentifier] = Field(default_factory=list, max_length=4)


class RejectIn(ChallengeIn):
    error: RejectError = "access_denied"
    error_description: str = Field(default="", max_length=300)


class ChallengeOut(BaseModel):
    kind: str
    state: str
    client: dict[str, str] | None  # the relying party the person is signing in to
    requested_at: datetime
    expires_at: datetime


class SaltVersionOut(BaseModel):
    version: int
    salt: str
    honoured_until: datetime | None  # None: the current version


class SaltOut(BaseModel):
    versions: list[SaltVersionOut]  # the current version first


class Redirect(BaseModel):
    redirect_to: str  # send the person's browser here (HTTP 302/303)


def _challenges(session: SessionDep, rt: RuntimeDep) -> Challenges:
    return Challenges(
        session,
        rt.hasher,
        issuer=rt.settings.issuer,
        ttl=timedelta(seconds=rt.settings.challenge_ttl),
    )


ChallengesDep = Annotated[Challenges, Depends(_challenges)]


def router() -> APIRouter:
    api = APIRouter(
        prefix="/v1/challenges",
        tags=["sign-in"],
        route_class=MemberRoute,
        dependencies=[member_limit("challenge")],  # per platform; per IP in front
    )

    @api.post("/describe", response_model=ChallengeOut)
    def describe(
        body: ChallengeIn, platform: PlatformDep, challenges: ChallengesDep, session: SessionDep
    ) -> ChallengeOut:
        """What the person is doing: signing in (to which relying party) or linking."""
        row = challenges.for_platform(body.challenge, platform)
        client = None
        if row.client_id is not None:  # the relying party's OAuth client_id
            member = session.exec(select(Member).where(Member.client_id == row.client_id)).first()
            if member is not None:
                client = {"name": member.name, "kind": member.kind}
        return ChallengeOut(
            kind=row.kind,
            state=row.state,
            client=client,
            requested_at=row.created_at,
            expires_at=row.expires_at,
        )

    @api.post("/login/accept", response_model=Redirect)
    def accept_login(
        body: AcceptIn, platform: PlatformDep, challenges: ChallengesDep, rt: RuntimeDep
    ) -> Redirect:
        """The platform authenticated its user: vouch for them."""
        hints_of(challenges.session, rt).check(_acceptance(body).identifiers)
        return Redirect(
            redirect_to=challenges.accept(
                body.challenge, platform, ChallengeKind.login, _acceptance(body)
            )
        )

    @api.post("/link/accept", response_model=Redirect)
    def accept_link(
        body: AcceptIn, platform: PlatformDep, challenges: ChallengesDep, rt: RuntimeDep
    ) -> Redirect:
        """The platform authenticated its user for a link to the signed-in person."""
        hints_of(challenges.session, rt).check(_acceptance(body).identifiers)
        return Redirect(
            redirect_to=challenges.accept(
                body.challenge, platform, ChallengeKind.link, _acceptance(body)
            )
        )

    @api.post("/reject", response_model=Redirect)
    def reject(body: RejectIn, platform: PlatformDep, challenges: ChallengesDep) -> Redirect:
        """The platform refuses (the user cancelled, or could not authenticate)."""
        return Redirect(
            redirect_to=challenges.reject(
                body.challenge, platform, body.error, body.error_description
            )
        )

    @api.get("/salt", response_model=SaltOut)
    def salt(_: PlatformDep, session: SessionDep, rt: RuntimeDep) -> SaltOut:
        """The alliance salt to hash verified identifiers with (link hints): the current
        version, and a superseded one while it is still honoured."""
        versions = hints_of(session, rt).salts()
        return SaltOut(
            versions=[
                SaltVersionOut(version=v.version, salt=v.salt, honoured_until=v.honoured_until)
                for v in versions
            ]
        )

    return api


def _acceptance(body: AcceptIn) -> Acceptance:
    return Acceptance(
        account_id=body.account_id,
        acr=body.acr,
        amr=tuple(dict.fromkeys(body.amr)),
        identifiers=tuple(
            Identifier(i.type, i.hash, i.salt_version) for i in body.verified_identifiers
        ),
    )
