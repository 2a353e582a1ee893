"""The authorization endpoint's flow, from ``/authorize`` to the code (or the error)
going back to the client, with no HTTP in it: the web routes render what it returns.

``begin`` validates the request through Authlib's code grant (client, exact redirect
URI, PKCE S256, scope, nonce, prompt) and keeps it as an interaction bound to the
browser. Without a live session the person picks a member platform and signs in there
through a login challenge (``choose``, then ``returned``); then the consent step asks
only for what is not in force yet (``decide``). Errors go back to the client's
redirect URI once the client and that URI are known to be genuine (RFC 6749
§4.1.2.1), with ``iss`` (RFC 9207); before that, the browser sees an error page.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from authlib.common.urls import add_params_to_uri
from authlib.oauth2.rfc6749 import OAuth2Error
from sqlalchemy import select
from sqlmodel import Session
from starlette.datastructures import Headers

from consent.records import History
from gateway.consents.service import Consents
from gateway.db import core, utcnow
from gateway.errors import Forbidden, InvalidRequest, oauth_text, problem_of
from gateway.identity.challenges import ChallengeKind, Challenges
from gateway.identity.hints import hints_of
from gateway.identity.models import LoginChallenge
from gateway.members.models import Member, MemberKind, MemberStatus
from gateway.oauth import consent_step, pushed, scopes
from gateway.oauth.clients import Client
from gateway.oauth.consent_step import Item
from gateway.oauth.http import FormRequest
from gateway.oauth.interactions import Interactions
from gateway.oauth.models import Interaction
from gateway.oauth.server import Provider
from gateway.oauth.sessions import Sessions, SignedIn
from gateway.operator import asks
from gateway.runtime import Runtime

MEMBER = core(Member)


@dataclass(frozen=True)
class Redirect:
    url: str


@dataclass(frozen=True)
class Chooser:
    handle: str
    client: Member
    platforms: list[Member]


@dataclass(frozen=True)
class ConsentScreen:
    handle: str
    client: Member
    items: list[Item]


@dataclass(frozen=True)
class Failure:
    status: int
    error: str
    description: str


Outcome = Redirect | Chooser | ConsentScreen | Failure


class Authorization:
    def __init__(
        self, session: Session, rt: Runtime, *, clock: Callable[[], datetime] = utcnow
    ) -> None:
        self.session = session
        self.rt = rt
        self.clock = clock
        ttl = timedelta(seconds=rt.settings.challenge_ttl)
        self.provider = Provider(session, rt, clock=clock)
        self.sessions = Sessions(
            session, rt.hasher, timedelta(seconds=rt.settings.session_ttl), clock
        )
        self.interactions = Interactions(session, rt.hasher, ttl, clock)
        self.challenges = Challenges(
            session, rt.hasher, issuer=rt.settings.issuer, ttl=ttl, clock=clock
        )
        self.consents = Consents(session, rt)

    # --- /authorize -------------------------------------------------------------------

    def begin(self, form: FormRequest, browser: str, session_handle: str | None) -> Outcome:
        try:
            form, was_pushed = pushed.resolve(self.provider, form)
        except OAuth2Error as error:
            return Failure(400, error.error, error.get_error_description() or error.error)
        signed = self.sessions.current(session_handle)
        data = form.payload.data
        prompt = set(str(data.get("prompt", "")).split())
        user = signed
        if signed is not None and ("login" in prompt or self._too_old(signed, data)):
            user = None  # sign in again, though the session stays
        try:
            grant = self.provider.get_consent_grant(form, end_user=user)
        except OAuth2Error as error:
            return self._error(error, data)
        client: Client = grant.request.client
        if client.member.require_par and not was_pushed:
            return Failure(400, "invalid_request", "this client must use PAR (RFC 9126)")
        parameters = {k: v for k, v in data.items() if k != "request_uri"}
        handle, row = self.interactions.start(
            client.member.id, browser, parameters, user.id if user else None
        )
        if user is None:
            return Chooser(handle, client.member, self.platforms())
        return self._consent(row, handle, user)

    def _too_old(self, signed: SignedIn, data: dict[str, Any]) -> bool:
        raw = data.get("max_age")
        if raw is None:
            return False
        if not str(raw).isdigit() or len(str(raw)) > 9:
            raise InvalidRequest("max_age must be a number of seconds")
        return self.clock() - signed.auth_time > timedelta(seconds=int(raw))

    def platforms(self) -> list[Member]:
        rows = self.session.execute(
            select(MEMBER)
            .where(MEMBER.c.kind == MemberKind.platform, MEMBER.c.status == MemberStatus.active)
            .order_by(MEMBER.c.name)
        )
        return [Member.model_validate(row._mapping) for row in rows]

    # --- sign-in through a platform ------------------------------------------------------

    def choose(self, handle: str, browser: str, platform_id: str) -> Outcome:
        row = self.interactions.load(handle, browser)
        platform = self.session.get(Member, platform_id)
        if platform is None or platform.kind != MemberKind.platform or not platform.login_url:
            raise InvalidRequest("choose one of the member platforms listed")
        opened = self.challenges.open(
            ChallengeKind.login,
            platform,
            browser,
            client_id=self._member(row).client_id,
            context={"interaction": row.id},
        )
        return Redirect(
            add_params_to_uri(platform.login_url, [("login_challenge", opened.challenge)])
        )

    def returned(self, challenge: LoginChallenge, browser: str) -> tuple[Outcome, str | None]:
        """The browser back from the platform (the challenge completed): a new session
        (its cookie value) and the next step, or the platform's refusal sent on to the
        client."""
        if challenge.kind != ChallengeKind.login:
            raise InvalidRequest("this sign-in was not started from an authorization request")
        row = self.interactions.by_id(str(challenge.context.get("interaction", "")), browser)
        if challenge.error is not None or challenge.account_id is None:
            self.interactions.finish(row)
            description = challenge.error_description or "the platform did not sign the person in"
            return self._redirect_error(
                row.parameters, challenge.error or "access_denied", description
            ), None
        handle, signed = self.open_session(challenge, challenge.account_id)
        self.interactions.attach(row, signed.id)
        return self._consent(row, None, signed), handle

    def open_session(self, challenge: LoginChallenge, account_id: str) -> tuple[str, SignedIn]:
        """The session an accepted login challenge opens (its cookie value, and it): the
        account's person, made on first sight, and the link hints the platform sent."""
        person = self.consents.persons.of_account(challenge.platform_id, account_id, create=True)
        hints_of(self.session, self.rt).remember(
            challenge.platform_id, account_id, challenge.identifiers
        )
        return self.sessions.open(person, challenge.platform_id, challenge.acr, challenge.amr or [])

    # --- consent ----------------------------------------------------------------------

    def _items(self, row: Interaction, signed: SignedIn) -> tuple[Member, list[Item]] | Failure:
        """The client and what its requested scope asks of the signed-in person."""
        client = self.provider.query_client(self._member(row).client_id)
        if client is None:
            return Failure(400, "invalid_client", "the client is no longer active")
        found = consent_step.items(
            str(row.parameters.get("scope", "")),
            client.member,
            client.purposes,
            self.consents,
            signed.person_id,
            self.clock(),
        )
        return client.member, found

    def _consent(self, row: Interaction, handle: str | None, signed: SignedIn) -> Outcome:
        asked = self._items(row, signed)
        if isinstance(asked, Failure):
            return asked
        member, found = asked
        parameters = row.parameters
        prompt = set(str(parameters.get("prompt", "")).split())
        if all(item.in_force for item in found) and "consent" not in prompt:
            return self._issue(row, signed, parameters.get("scope", ""))
        if "none" in prompt:
            self.interactions.finish(row)
            return self._redirect_error(parameters, "consent_required", "the person must consent")
        handle = handle or self.interactions.reissue(row)
        wanted = sum(not item.in_force for item in found)  # the consents this screen asks
        asks.shown(self.session, row.id, member.id, wanted, self.clock())
        return ConsentScreen(handle, member, found)

    def decide(
        self,
        handle: str,
        browser: str,
        session_handle: str | None,
        *,
        approve: bool,
        chosen: set[str],
        user_agent: str | None,
    ) -> Outcome:
        row = self.interactions.load(handle, browser)
        signed = self.sessions.current(session_handle)
        if signed is None or signed.id != row.session_id:
            raise Forbidden("sign in again: the session that started this consent has ended")
        if not approve:
            asks.answered(self.session, row.id, asks.Answer.refused, 0, self.clock())
            self.interactions.finish(row)
            return self._redirect_error(row.parameters, "access_denied", "the person refused")
        asked = self._items(row, signed)
        if isinstance(asked, Failure):
            return asked
        member, found = asked
        granted = [item for item in found if item.required or item.scope in chosen]
        evidence = consent_step.screen_evidence(user_agent)
        outcomes = consent_step.record(granted, member, self.consents, signed.person_id, evidence)
        given = sum(isinstance(outcome, History) for outcome in outcomes)
        asks.answered(self.session, row.id, asks.Answer.given, given, self.clock())
        for outcome in outcomes:
            if isinstance(outcome, Exception):
                problem = problem_of(outcome)
                return Failure(problem["status"], problem["error"], problem["error_description"])
        scope = scopes.join(token for item in granted for token in item.scope.split())
        return self._issue(row, signed, scope)

    # --- the code ------------------------------------------------------------------------

    def _issue(self, row: Interaction, signed: SignedIn, scope: str) -> Outcome:
        if not self.interactions.finish(row):
            return Failure(409, "invalid_request", "this sign-in was already completed")
        parameters = {**row.parameters, "scope": scope}
        form = FormRequest(
            "GET",
            self.rt.settings.issuer + "/authorize",
            Headers(),
            {key: [str(value)] for key, value in parameters.items()},
        )
        try:
            grant = self.provider.get_consent_grant(form, end_user=signed)
        except OAuth2Error as error:  # e.g. the client was disabled meanwhile
            return self._error(error, parameters)
        subject = self.provider.store.open_grant(
            self._member(row),
            signed.person_id,
            scope,
            auth_time=signed.auth_time,
            acr=signed.acr,
            amr=signed.amr,
            session_id=signed.id,
            now=self.clock(),
        )
        response = self.provider.create_authorization_response(
            form, grant_user=subject, grant=grant
        )
        return Redirect(str(response.headers["location"]))

    def _member(self, row: Interaction) -> Member:
        member = self.session.get(Member, row.member_id)
        if member is None:
            raise InvalidRequest("the client is no longer registered")
        return member

    def _error(self, error: OAuth2Error, data: dict[str, Any]) -> Outcome:
        description = error.get_error_description() or error.error
        if error.redirect_uri:
            return self._to_client(error.redirect_uri, data, error.error, description)
        return Failure(400, error.error, description)

    def _redirect_error(self, data: dict[str, Any], code: str, description: str) -> Outcome:
        return self._to_client(str(data["redirect_uri"]), data, code, description)

    def _to_client(
        self, redirect_uri: str, data: dict[str, Any], code: str, description: str
    ) -> Outcome:
        params = [("error", code), ("error_description", oauth_text(description))]
        if data.get("state"):
            params.append(("state", str(data["state"])))
        params.append(("iss", self.rt.settings.issuer))
        return Redirect(add_params_to_uri(redirect_uri, params))
