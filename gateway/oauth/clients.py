"""Members as OAuth clients: what Authlib's grants ask of a client, answered from the
member registry.

Redirect URIs match exactly, as strings (RFC 9700 §4.1.3): no trailing-slash, case
or query tolerance. A disabled member is no client at all.
"""

from __future__ import annotations

from functools import cached_property

from authlib.oauth2.rfc6749 import ClientMixin, InvalidScopeError
from sqlalchemy import select
from sqlmodel import Session
from sqlmodel import select as select_model

from consent.taxonomy import DataStandard
from gateway.db import core
from gateway.members.models import (
    AuthMethod,
    Member,
    MemberKind,
    MemberPurpose,
    MemberRedirectURI,
    MemberStatus,
)
from gateway.oauth import scopes
from gateway.oauth.remembered import Remembered
from gateway.secret_hash import SecretHasher

MEMBER, REDIRECT, PURPOSE = core(Member), core(MemberRedirectURI), core(MemberPurpose)

# Client authentication methods, in the order the token endpoint tries them.
AUTH_METHODS = [method.value for method in AuthMethod]
CONFIDENTIAL_METHODS = [method.value for method in AuthMethod if method is not AuthMethod.none]

GRANT_TYPES_CONFIDENTIAL = frozenset(
    {
        "authorization_code",
        "refresh_token",
        "client_credentials",
        "urn:ietf:params:oauth:grant-type:token-exchange",
    }
)
GRANT_TYPES_PUBLIC = frozenset({"authorization_code", "refresh_token"})


class Client(ClientMixin):  # type: ignore[misc]
    """A member as a client. Its redirect URIs and purposes are read when first asked
    for: a client_credentials request needs neither."""

    def __init__(
        self, member: Member, session: Session, hasher: SecretHasher, standard: DataStandard
    ) -> None:
        self.member = member
        self._session = session
        self.hasher = hasher
        self.standard = standard

    @cached_property
    def redirect_uris(self) -> tuple[str, ...]:
        rows = self._session.execute(
            select(REDIRECT.c.uri).where(REDIRECT.c.member_id == self.member.id)
        )
        return tuple(rows.scalars())

    @cached_property
    def purposes(self) -> frozenset[str]:
        rows = self._session.execute(
            select(PURPOSE.c.purpose).where(PURPOSE.c.member_id == self.member.id)
        )
        return frozenset(rows.scalars())

    @property
    def client_metadata(self) -> dict[str, list[str]]:
        """The registered metadata Authlib's endpoints read (RP-Initiated Logout)."""
        return {"post_logout_redirect_uris": list(self.member.post_logout_redirect_uris or [])}

    @property
    def client_id(self) -> str:
        return self.member.client_id

    @property
    def auth_method(self) -> AuthMethod:
        return AuthMethod(self.member.auth_method)

    @property
    def is_platform(self) -> bool:
        return self.member.kind == MemberKind.platform

    # --- ClientMixin ------------------------------------------------------------------

    def get_client_id(self) -> str:
        return self.member.client_id

    def get_default_redirect_uri(self) -> str | None:
        return None  # redirect_uri is required in every request (OIDC Core §3.1.2.1)

    def get_allowed_scope(self, scope: str | None) -> str | None:
        """The requested scope if every part is allowed, else None (``invalid_scope``):
        nothing is silently dropped."""
        try:
            requested = scopes.parse(scope, self.purposes, self.standard)
        except scopes.ScopeRefused as refused:
            raise InvalidScopeError(str(refused)) from None
        if requested.member_api:
            raise InvalidScopeError(f"{scopes.MEMBER_API!r} is for client_credentials only")
        return scopes.join(scopes.split(scope))

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        stored = self.member.client_secret_hash
        return stored is not None and self.hasher.verify(client_secret, stored)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method == self.member.auth_method

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        public = self.auth_method is AuthMethod.none
        allowed = GRANT_TYPES_PUBLIC if public else GRANT_TYPES_CONFIDENTIAL
        return grant_type in allowed


def load_client(
    session: Session,
    hasher: SecretHasher,
    standard: DataStandard,
    client_id: object,
    remembered: Remembered | None = None,
) -> Client | None:
    """The active member with this client id, as a client; unknown and disabled alike
    are None (``invalid_client``). Read from memory when it can be."""
    if not isinstance(client_id, str) or not 0 < len(client_id) <= 64:
        return None
    member = remembered.client(client_id) if remembered is not None else None
    if member is None:
        tag = remembered.tag(session) if remembered is not None else None
        member = session.exec(select_model(Member).where(Member.client_id == client_id)).first()
        if member is None or member.status != MemberStatus.active:
            return None
        if remembered is not None:
            member = remembered.keep_client(member, tag)
    return Client(member, session, hasher, standard)


def load_member_client(
    session: Session, hasher: SecretHasher, standard: DataStandard, member_id: str
) -> Client | None:
    member = session.get(Member, member_id)
    if member is None or member.status != MemberStatus.active:
        return None
    return Client(member, session, hasher, standard)
