"""Login and link challenges: sign-in through a member platform (after Ory Hydra's
login flow, with the platform as the login app).

The gateway opens a challenge for one browser and one chosen platform and sends the
browser to the platform's login URL with it. The platform authenticates its own user,
and its backend answers the challenge (accept with the platform user id, ``acr``/``amr``
and optional salted identifier hashes, or reject) with its member credential. The
answer hands back the URL the browser must return to, carrying a one-time *verifier*;
the gateway completes the challenge only for the browser that started it.

Only keyed hashes of the challenge, the verifier and the browser binding are stored:
a database read gives no one a challenge to answer or a verifier to complete. Every
change is one conditional UPDATE guarded by the transition table, so two answers (or
two returns) race to exactly one winner.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, select

from gateway.db import core, utcnow
from gateway.errors import ChallengeExpired, ChallengeUsed, Forbidden, InvalidRequest, NotFound
from gateway.identity.models import LoginChallenge
from gateway.members.models import Member, MemberKind, MemberStatus
from gateway.secret_hash import SecretHasher

CHALLENGE = core(LoginChallenge)
RETURN_PATH = "/signin/return"  # where the browser comes back with the verifier


class ChallengeKind(StrEnum):
    login = "login"  # sign in (a first sight of the account makes a person)
    link = "link"  # add this platform's account to the signed-in person


class ChallengeState(StrEnum):
    pending = "pending"  # waiting for the platform's answer
    accepted = "accepted"  # the platform vouched for its user; the browser may return
    rejected = "rejected"  # the platform refused; the browser returns to hear why
    completed = "completed"  # the browser came back: used, never again


class Action(StrEnum):
    accept = "accept"
    reject = "reject"
    complete = "complete"


# Time is a guard on every action rather than a state: past ``expires_at`` nothing moves
# (410), and the upkeep job deletes the row.
TRANSITIONS: dict[ChallengeState, dict[Action, ChallengeState]] = {
    ChallengeState.pending: {
        Action.accept: ChallengeState.accepted,
        Action.reject: ChallengeState.rejected,
    },
    ChallengeState.accepted: {Action.complete: ChallengeState.completed},
    ChallengeState.rejected: {Action.complete: ChallengeState.completed},
    ChallengeState.completed: {},
}


def sources(action: Action) -> list[ChallengeState]:
    """The states ``action`` may leave."""
    return [state for state, moves in TRANSITIONS.items() if action in moves]


def target(action: Action) -> ChallengeState:
    """Where ``action`` leads (the same from every state it may leave)."""
    (to,) = {TRANSITIONS[state][action] for state in sources(action)}
    return to


@dataclass(frozen=True)
class Identifier:
    """A verified phone or email, salted and hashed by the platform (a link hint)."""

    type: str
    hash: str
    salt_version: int


@dataclass(frozen=True)
class Acceptance:
    """What a platform vouches for when it accepts: its user, and how it knew them."""

    account_id: str
    acr: str | None = None
    amr: tuple[str, ...] = ()
    identifiers: tuple[Identifier, ...] = field(default=())


@dataclass(frozen=True)
class Opened:
    challenge: str  # goes to the platform's login URL; only its hash is kept
    row: LoginChallenge


class Challenges:
    def __init__(
        self,
        session: Session,
        hasher: SecretHasher,
        *,
        issuer: str,
        ttl: timedelta,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.session = session
        self.hasher = hasher
        self.issuer = issuer.rstrip("/")
        self.ttl = ttl
        self.clock = clock

    # --- the gateway's side --------------------------------------------------------

    def open(
        self,
        kind: ChallengeKind,
        platform: Member,
        browser: str,
        *,
        client_id: str | None = None,
        context: dict[str, Any] | None = None,
    ) -> Opened:
        """A challenge for ``platform``, bound to the ``browser`` secret (a cookie)."""
        if platform.kind != MemberKind.platform or platform.status != MemberStatus.active:
            raise InvalidRequest("sign-in goes through an active member platform")
        value = secrets.token_urlsafe(32)
        now = self.clock()
        row = LoginChallenge(
            id=self.hasher.hash(value),
            kind=kind.value,
            state=ChallengeState.pending.value,
            platform_id=platform.id,
            client_id=client_id,
            browser_hash=self.hasher.hash(browser),
            context=context or {},
            created_at=now,
            expires_at=now + self.ttl,
        )
        self.session.add(row)
        self.session.flush()
        return Opened(value, row)

    def complete(self, verifier: str, browser: str) -> LoginChallenge:
        """The browser's return: once, from the browser that started the challenge.
        The row says how it ended: ``account_id`` when accepted, ``error`` when not."""
        row = self.session.exec(
            select(LoginChallenge).where(LoginChallenge.verifier_hash == self.hasher.hash(verifier))
        ).first()
        if row is None:
            raise NotFound("no such sign-in")
        if not self.hasher.verify(browser, row.browser_hash):
            raise Forbidden("this browser did not start the sign-in")
        self._move(row, Action.complete)
        return row

    # --- the platform's side -------------------------------------------------------

    def for_platform(self, challenge: str, platform: Member) -> LoginChallenge:
        """The challenge as its platform may see it; another platform's is unknown."""
        row = self.session.get(LoginChallenge, self.hasher.hash(challenge))
        if row is None or row.platform_id != platform.id:
            raise NotFound("no such challenge")
        if self._lapsed(row):
            raise ChallengeExpired("the challenge has expired")
        return row

    def accept(
        self, challenge: str, platform: Member, kind: ChallengeKind, acceptance: Acceptance
    ) -> str:
        """The platform vouches for its user; the URL to send the browser back to."""
        return self._answer(
            self._answerable(challenge, platform, kind),
            Action.accept,
            account_id=acceptance.account_id,
            acr=acceptance.acr,
            amr=list(acceptance.amr),
            identifiers=[asdict(i) for i in acceptance.identifiers],
        )

    def reject(self, challenge: str, platform: Member, error: str, description: str) -> str:
        """The platform refuses, whatever the kind; the URL to send the browser back to."""
        return self._answer(
            self.for_platform(challenge, platform),
            Action.reject,
            error=error,
            error_description=description,
        )

    # --- the lifecycle -------------------------------------------------------------

    def _answerable(self, challenge: str, platform: Member, kind: ChallengeKind) -> LoginChallenge:
        row = self.for_platform(challenge, platform)
        if row.kind != kind.value:
            raise InvalidRequest(f"this is a {row.kind} challenge, not a {kind.value} one")
        return row

    def _answer(self, row: LoginChallenge, action: Action, **values: Any) -> str:
        """Record the platform's answer; the browser's way back, with a one-time verifier."""
        verifier = secrets.token_urlsafe(32)
        self._move(
            row,
            action,
            verifier_hash=self.hasher.hash(verifier),
            answered_at=self.clock(),
            **values,
        )
        return f"{self.issuer}{RETURN_PATH}?verifier={verifier}"

    def _lapsed(self, row: LoginChallenge) -> bool:
        return self.clock() >= row.expires_at

    def _move(self, row: LoginChallenge, action: Action, **values: Any) -> None:
        """Apply ``action`` if the row is still in a state it may leave, and in time."""
        if self._lapsed(row):
            raise ChallengeExpired("the challenge has expired")
        moved = self.session.execute(
            update(CHALLENGE)
            .where(
                CHALLENGE.c.id == row.id,
                CHALLENGE.c.state.in_([s.value for s in sources(action)]),
                CHALLENGE.c.expires_at > self.clock(),
            )
            .values(state=target(action).value, **values)
            .returning(CHALLENGE.c.id)
        ).first()
        self.session.refresh(row)
        if moved is None:  # answered or completed meanwhile, or before
            raise ChallengeUsed(f"the challenge was already {row.state}")


def prune(session: Session, now: datetime) -> int:
    """Forget challenges past their expiry (the upkeep job): they can no longer be used,
    and an accepted one holds a platform user id that should not outlive its purpose."""
    result = session.execute(CHALLENGE.delete().where(CHALLENGE.c.expires_at <= now))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
