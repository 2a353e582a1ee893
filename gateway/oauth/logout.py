"""RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0), with no HTTP in it.

Authlib's end-session endpoint checks the request: the ``id_token_hint`` must be an ID
token this provider signed (expired ones too, §2), ``client_id`` must match its
audience, and the browser goes back only to a registered
``post_logout_redirect_uri``, matched exactly, with ``state`` (§3). A request without
a hint could be forged by any page, so the person confirms it first (§6): the
confirmation is a form with a CSRF token.

Which session ends: the browser's own, when it belongs to the person the hint names
(or when there is no hint); otherwise the one the hint's ``sid`` names, found among
that person's sessions. Ending a session revokes every grant opened in it (refresh
tokens stop; access tokens introspect inactive) and tells each member that held one
with a CAEP session-revoked SET naming its own ``sub`` and ``sid``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from authlib.oauth2.rfc6749 import InvalidRequestError
from authlib.oidc.rpinitiated import EndSessionEndpoint, EndSessionRequest
from sqlmodel import Session

from gateway.db import utcnow
from gateway.errors import NotFound
from gateway.events import types
from gateway.events.outbox import Announcement, emit_many
from gateway.members.models import Member
from gateway.oauth.clients import Client
from gateway.oauth.http import FormRequest
from gateway.oauth.server import Provider
from gateway.oauth.sessions import Sessions, SignedIn
from gateway.oauth.store import Reason, Subject
from gateway.oauth.tokens import InvalidToken
from gateway.runtime import Runtime


@dataclass(frozen=True)
class Confirm:
    """Ask the person before signing out (no ``id_token_hint``)."""

    client: Member | None
    parameters: dict[str, str]


@dataclass(frozen=True)
class SignedOut:
    """Signed out, with no registered place to go back to."""

    client: Member | None
    ended: int  # sessions ended


@dataclass(frozen=True)
class Back:
    """Signed out; the browser returns to the client."""

    url: str
    ended: int


class EndSession(EndSessionEndpoint):  # type: ignore[misc]
    def __init__(self, provider: Provider, end: Callable[[EndSessionRequest], None]) -> None:
        super().__init__(provider)
        self.provider = provider
        self._end = end

    def _validate_id_token_hint(self, id_token_hint: str) -> dict[str, Any]:
        """Our own check, with the algorithms pinned and the token type and issuer
        checked: an access token or a SET, signed with the same keys, is no hint."""
        try:
            return self.provider.signer.verify_id_token_hint(id_token_hint)
        except InvalidToken:
            raise InvalidRequestError("id_token_hint is not an ID token of this provider") from None

    def end_session(self, end_session_request: EndSessionRequest) -> None:
        self._end(end_session_request)


class Logout:
    def __init__(
        self, session: Session, rt: Runtime, *, clock: Callable[[], datetime] = utcnow
    ) -> None:
        self.session = session
        self.rt = rt
        self.clock = clock
        self.provider = Provider(session, rt, clock=clock)
        self.sessions = Sessions(
            session, rt.hasher, timedelta(seconds=rt.settings.session_ttl), clock
        )
        self._browser_session: str | None = None
        self._ended = 0

    def run(
        self, form: FormRequest, session_handle: str | None, *, confirmed: bool
    ) -> Confirm | Back | SignedOut:
        """Validate the request, then sign out or ask first; OAuth2Error if invalid."""
        endpoint = EndSession(self.provider, self._end_sessions)
        request: EndSessionRequest = endpoint.validate_request(form)
        client: Client | None = request.client
        member = client.member if client is not None else None
        if request.needs_confirmation and not confirmed:
            return Confirm(member, dict(form.payload.data))
        self._browser_session = session_handle
        response = endpoint.create_response(request)
        if response is not None:
            _, _, headers = response
            return Back(dict(headers)["Location"], self._ended)
        return SignedOut(member, self._ended)

    # --- ending sessions ----------------------------------------------------------------

    def _end_sessions(self, request: EndSessionRequest) -> None:
        for signed in self._sessions_to_end(request):
            if self.sessions.end(signed.id):
                self._ended += 1
                revoked = self.provider.store.revoke_session_grants(
                    signed.id, Reason.logout, self.clock()
                )
                self._announce(signed, revoked)

    def _sessions_to_end(self, request: EndSessionRequest) -> list[SignedIn]:
        current = self.sessions.current(self._browser_session)
        claims = request.id_token_claims
        client: Client | None = request.client
        if claims is None or client is None:
            return [current] if current else []
        try:
            person = self.provider.persons.of_subject(client.member, str(claims["sub"]))
        except NotFound:
            return []
        if current is not None and current.person_id == person:
            return [current]
        sid = claims.get("sid")
        return [
            signed
            for signed in self.sessions.of_person(person)
            if sid == self.provider.session_claim(signed.id, client)
        ]

    def _announce(self, signed: SignedIn, revoked: list[Subject]) -> None:
        """CAEP session-revoked to each member that held a grant in the session."""
        issuer = self.rt.settings.issuer
        now = int(self.clock().timestamp())
        announcements = []
        for member_id in dict.fromkeys(subject.member_id for subject in revoked):
            member = self.session.get(Member, member_id)
            if member is None:
                continue
            client = Client(member, self.session, self.rt.hasher, self.rt.standard)
            sub = self.provider.persons.sub_of(signed.person_id, member)
            announcements.append(
                Announcement(
                    recipient_id=member.id,
                    event_type=types.SESSION_REVOKED,
                    subject={
                        "format": "complex",
                        "user": {"format": "iss_sub", "iss": issuer, "sub": sub},
                        "session": {
                            "format": "opaque",
                            "id": self.provider.session_claim(signed.id, client),
                        },
                    },
                    event={
                        "event_timestamp": now,
                        "initiating_entity": "user",
                        "reason_admin": {"en": "The person signed out."},
                    },
                )
            )
        emit_many(self.session, announcements)
