"""Consent operations: record (platforms), list, read, withdraw, revoke, decide and
eligibility; each call carries the member's credential."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import httpx
from pydantic import BaseModel, ConfigDict

from sdk.calls import Call, Request, operation
from sdk.errors import APIError, error_from_problem


class _Model(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


class ConsentEventInfo(_Model):
    seq: int
    type: str
    at: datetime
    actor: str
    method: str
    valid_until: datetime | None = None
    reason: str | None = None


class Consent(_Model):
    record_id: str
    receipt_id: str
    subject: str  # the member's pairwise sub for the person
    account_id: str | None = None  # a platform's own user id for the person
    recipient: dict[str, str]
    purpose: str
    categories: list[str]
    lawful_basis: str
    separate: bool
    sensitive: bool
    guardian: bool
    notice: dict[str, str | int]
    valid_from: datetime
    valid_until: datetime
    state: str
    state_dpv: str
    events: list[ConsentEventInfo]

    @property
    def in_force(self) -> bool:
        return self.state == "given"


class Decision(_Model):
    allowed: bool
    granted_by: dict[str, str]
    denied: dict[str, str]
    reasons: list[str]
    explanation: list[str]


class EligibleAccount(_Model):
    account_id: str
    subject: str
    record_id: str
    categories: list[str]
    valid_until: datetime


class EligiblePage(_Model):
    purpose: str
    accounts: list[EligibleAccount]
    next_cursor: str | None = None


class Notice(_Model):
    notice_id: str
    version: int
    language: str
    text_hash: str
    published_at: datetime
    text: str | None = None


class LogInfo(_Model):
    origin: str
    verifier_key: str
    checkpoint_url: str
    size: int


@dataclass(frozen=True)
class NewConsent:
    """A consent the platform collected in its own UI, to record (see
    :meth:`ConsentRecording.record_consents`)."""

    account_id: str
    purpose: str
    categories: Iterable[str]
    notice_id: str
    notice_version: int
    valid_until: datetime | None = None
    guardian_ref: str | None = None
    minor_under_14: bool = False
    actor: Literal["person", "guardian"] = "person"
    method: str = "platform_ui"
    ip: str | None = None
    user_agent: str | None = None

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "account_id": self.account_id,
            "purpose": self.purpose,
            "categories": list(self.categories),
            "notice": {"id": self.notice_id, "version": self.notice_version},
            "minor_under_14": self.minor_under_14,
            "collected": {
                "actor": self.actor,
                "method": self.method,
                "ip": self.ip,
                "user_agent": self.user_agent,
            },
        }
        if self.valid_until is not None:
            body["valid_until"] = self.valid_until.isoformat()
        if self.guardian_ref is not None:
            body["guardian_ref"] = self.guardian_ref
        return body


MAX_BATCH = 1000  # consents per record_consents call


def _person(account_id: str | None, sub: str | None) -> dict[str, str]:
    if (account_id is None) == (sub is None):
        raise ValueError("name the person by exactly one of account_id or sub")
    return {"account_id": account_id} if account_id is not None else {"sub": sub or ""}


def _consent(response: httpx.Response) -> Consent:
    return Consent.model_validate(response.json())


class ConsentReading:
    """What platforms and brands both do with the consents they receive."""

    @operation
    def consents(
        self, *, account_id: str | None = None, sub: str | None = None
    ) -> Call[list[Consent]]:
        """The person's consents to this member, named by the member's own identifier."""
        request = Request("GET", "/v1/consents", params=_person(account_id, sub), member_auth=True)

        def parse(response: httpx.Response) -> list[Consent]:
            return [Consent.model_validate(c) for c in response.json()["consents"]]

        return Call(request, parse)

    @operation
    def consent(self, record_id: str) -> Call[Consent]:
        return Call(Request("GET", f"/v1/consents/{record_id}", member_auth=True), _consent)

    @operation
    def revoke_consent(self, record_id: str, reason: str) -> Call[Consent]:
        """Stop relying on a consent (the recipient ends the processing)."""
        body = {"reason": reason}
        path = f"/v1/consents/{record_id}/revoke"
        return Call(Request("POST", path, json=body, member_auth=True), _consent)

    @operation
    def decide(
        self,
        purpose: str,
        categories: Iterable[str],
        *,
        account_id: str | None = None,
        sub: str | None = None,
    ) -> Call[Decision]:
        """May this member use these categories of the person for this purpose, now?"""
        body: dict[str, Any] = {
            **_person(account_id, sub),
            "purpose": purpose,
            "categories": list(categories),
        }
        return Call(
            Request("POST", "/v1/decisions", json=body, member_auth=True),
            lambda r: Decision.model_validate(r.json()),
        )

    @operation
    def receipt(self, record_id: str, seq: int) -> Call[str]:
        """The signed receipt of event ``seq`` of a record: verify it with
        :func:`sdk.verify_receipt`, offline, against the log's checkpoint."""
        path = f"/v1/consents/{record_id}/receipts/{seq}"
        return Call(Request("GET", path, member_auth=True), lambda r: r.text)

    @operation
    def consent_log(self) -> Call[LogInfo]:
        """The consent log's origin, checkpoint verifier key and size."""
        return Call(
            Request("GET", "/.well-known/consent-log"), lambda r: LogInfo.model_validate(r.json())
        )

    @operation
    def jwks(self) -> Call[dict[str, Any]]:
        """The gateway's public signing keys (RFC 7517), for receipts and SETs."""

        def parse(response: httpx.Response) -> dict[str, Any]:
            keys = response.json()
            if not isinstance(keys, dict) or not isinstance(keys.get("keys"), list):
                raise ValueError("not a JWK Set")
            return keys

        return Call(Request("GET", "/.well-known/jwks.json"), parse)

    @operation
    def notice(self, notice_id: str, version: int | None = None) -> Call[Notice]:
        """A notice's current (or a given) version, with the exact text to show."""
        path = f"/v1/notices/{notice_id}" + (f"/versions/{version}" if version else "")
        return Call(Request("GET", path), lambda r: Notice.model_validate(r.json()))


class ConsentRecording:
    """What a platform does: record consents collected in its own UI, relay withdrawals,
    and list who consents to a purpose."""

    @operation
    def record_consent(
        self,
        account_id: str,
        purpose: str,
        categories: Iterable[str],
        *,
        notice_id: str,
        notice_version: int,
        valid_until: datetime | None = None,
        guardian_ref: str | None = None,
        minor_under_14: bool = False,
        actor: Literal["person", "guardian"] = "person",
        method: str = "platform_ui",
        ip: str | None = None,
        user_agent: str | None = None,
    ) -> Call[Consent]:
        consent = NewConsent(
            account_id,
            purpose,
            categories,
            notice_id,
            notice_version,
            valid_until=valid_until,
            guardian_ref=guardian_ref,
            minor_under_14=minor_under_14,
            actor=actor,
            method=method,
            ip=ip,
            user_agent=user_agent,
        )
        return Call(
            Request("POST", "/v1/consents", json=consent.body(), member_auth=True), _consent
        )

    @operation
    def record_consents(self, consents: Iterable[NewConsent]) -> Call[list[Consent | APIError]]:
        """Record up to 1,000 consents in one call and one transaction. Each is checked
        on its own: the result for each, in order, is the recorded consent or the error
        the single call would have raised for it."""
        items = [c.body() for c in consents]
        if not 1 <= len(items) <= MAX_BATCH:
            raise ValueError(f"record between 1 and {MAX_BATCH} consents per call")
        body = {"consents": items}

        def parse(response: httpx.Response) -> list[Consent | APIError]:
            results: list[Consent | APIError] = []
            for item in sorted(response.json()["results"], key=lambda r: r["index"]):
                if item.get("consent") is not None:
                    results.append(Consent.model_validate(item["consent"]))
                else:
                    results.append(error_from_problem(int(item["status"]), item["error"]))
            if len(results) != len(items):
                raise ValueError("the gateway answered for a different number of consents")
            return results

        return Call(Request("POST", "/v1/consents/batch", json=body, member_auth=True), parse)

    @operation
    def withdraw_consent(
        self,
        record_id: str,
        *,
        actor: Literal["person", "guardian"] = "person",
        method: str = "platform_ui",
        ip: str | None = None,
        user_agent: str | None = None,
    ) -> Call[Consent]:
        """The person's withdrawal, made in the platform's UI: one call, effective at once."""
        body = {"collected": {"actor": actor, "method": method, "ip": ip, "user_agent": user_agent}}
        path = f"/v1/consents/{record_id}/withdraw"
        return Call(Request("POST", path, json=body, member_auth=True), _consent)

    @operation
    def eligible(
        self, purpose: str, *, cursor: str | None = None, limit: int = 500
    ) -> Call[EligiblePage]:
        """One page of the platform's users whose consent to ``purpose`` is in force."""
        params = {"purpose": purpose, "limit": str(limit), **({"cursor": cursor} if cursor else {})}
        return Call(
            Request("GET", "/v1/eligibility", params=params, member_auth=True),
            lambda r: EligiblePage.model_validate(r.json()),
        )
