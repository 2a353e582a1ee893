"""Sign-in through the platform: a platform's login page receives a ``login_challenge``
(or a ``link_challenge``) from the gateway, authenticates its own user, and its backend
answers the challenge here. Each answer returns the URL to send the browser back to."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import httpx
from pydantic import BaseModel, ConfigDict

from sdk.calls import Call, Request, operation


class ChallengeInfo(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)

    kind: str  # "login" or "link"
    state: str
    client: dict[str, str] | None = None  # the relying party the person signs in to
    requested_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class VerifiedIdentifier:
    """A phone or email the platform verified, salted with the alliance salt and hashed
    (base64url SHA-256, 43 characters): a link hint, never the identifier itself."""

    type: Literal["phone", "email"]
    hash: str
    salt_version: int


def _redirect(response: httpx.Response) -> str:
    target = response.json()["redirect_to"]
    if not isinstance(target, str):
        raise ValueError("redirect_to is not a URL")
    return target


def _accept_body(
    challenge: str,
    account_id: str,
    acr: str | None,
    amr: Iterable[str],
    identifiers: Iterable[VerifiedIdentifier],
) -> dict[str, Any]:
    return {
        "challenge": challenge,
        "account_id": account_id,
        "acr": acr,
        "amr": list(amr),
        "verified_identifiers": [
            {"type": i.type, "hash": i.hash, "salt_version": i.salt_version} for i in identifiers
        ],
    }


class SignInOperations:
    """What a platform's login page does with the gateway's challenges."""

    @operation
    def describe_challenge(self, challenge: str) -> Call[ChallengeInfo]:
        """What the person is doing: signing in (to which relying party) or linking."""
        request = Request(
            "POST", "/v1/challenges/describe", json={"challenge": challenge}, member_auth=True
        )
        return Call(request, lambda r: ChallengeInfo.model_validate(r.json()))

    @operation
    def accept_login(
        self,
        challenge: str,
        account_id: str,
        *,
        acr: str | None = None,
        amr: Iterable[str] = (),
        verified_identifiers: Iterable[VerifiedIdentifier] = (),
    ) -> Call[str]:
        """Vouch for the user the platform just authenticated; redirect the browser to
        the URL returned."""
        body = _accept_body(challenge, account_id, acr, amr, verified_identifiers)
        request = Request("POST", "/v1/challenges/login/accept", json=body, member_auth=True)
        return Call(request, _redirect)

    @operation
    def accept_link(
        self,
        challenge: str,
        account_id: str,
        *,
        acr: str | None = None,
        amr: Iterable[str] = (),
        verified_identifiers: Iterable[VerifiedIdentifier] = (),
    ) -> Call[str]:
        """Vouch for the user who asked to link this platform to their Accord identity."""
        body = _accept_body(challenge, account_id, acr, amr, verified_identifiers)
        request = Request("POST", "/v1/challenges/link/accept", json=body, member_auth=True)
        return Call(request, _redirect)

    @operation
    def reject_login(
        self,
        challenge: str,
        *,
        error: Literal[
            "access_denied", "login_required", "account_selection_required"
        ] = "access_denied",
        description: str = "",
    ) -> Call[str]:
        """Refuse (the user cancelled or could not authenticate); a login or a link."""
        body = {"challenge": challenge, "error": error, "error_description": description}
        request = Request("POST", "/v1/challenges/reject", json=body, member_auth=True)
        return Call(request, _redirect)
