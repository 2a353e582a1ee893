"""Link hints: salted hashes of identifiers platforms verified (a phone, an email).

The alliance salt is issued here (its first version on first use) and handed to
platforms through the SDK; a platform
hashes a verified identifier with it (``b64url(SHA-256(salt ‖ type ‖ ":" ‖ value))``,
the value normalised first) and sends the hash with its answer to a challenge. The salt
rotates (``accord salt rotate``); the superseded version still counts for
``ACCORD_SALT_GRACE_DAYS``, and a hash under an older or unknown version is refused.

Equal hashes (same type and salt version) at two platforms make a *suggestion* shown
to the person in the consent center: "you may also have an account at X". Never a
link: linking always takes the link challenge and the person's confirmation. A
suggestion names the platform only, never the other account.

What the hashes do and do not hide: a hash keeps the identifier out of the gateway's
tables, but anyone holding the salt (every platform, and the gateway) could test
candidate phone numbers against it. So hashes are kept only with their account (they
go when it is unlinked or erased) and are never shown or exported to anyone else.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, delete, select, update
from sqlmodel import Session

from gateway.db import core, insert_new, utcnow
from gateway.errors import InvalidRequest
from gateway.identity.challenges import Identifier
from gateway.identity.models import AccountIdentifier, AllianceSalt
from gateway.identity.persons import ACCOUNT
from gateway.members.models import Member, MemberStatus
from gateway.runtime import Runtime

SALT, IDENTIFIER = core(AllianceSalt), core(AccountIdentifier)


@dataclass(frozen=True)
class SaltVersion:
    version: int
    salt: str
    honoured_until: datetime | None  # None for the current version


@dataclass(frozen=True)
class Suggestion:
    platform: Member
    type: str  # which kind of identifier matched


def _new_salt() -> dict[str, str]:
    return {"salt": base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()}


def has_salt(session: Session) -> bool:
    return session.execute(select(SALT.c.version).limit(1)).first() is not None


def hints_of(session: Session, rt: Runtime) -> Hints:
    return Hints(session, timedelta(days=rt.settings.salt_grace_days))


class Hints:
    def __init__(
        self, session: Session, grace: timedelta, *, clock: Callable[[], datetime] = utcnow
    ) -> None:
        self.session = session
        self.grace = grace
        self.clock = clock

    # --- the salt ---------------------------------------------------------------------

    def salts(self) -> list[SaltVersion]:
        """The current version first, then any superseded one still honoured."""
        rows = self.session.execute(select(SALT).order_by(SALT.c.version.desc())).all()
        if not rows:  # issued on first use, like the signing keys (a race: one wins)
            insert_new(
                self.session, SALT, {**_new_salt(), "version": 1, "created_at": self.clock()}
            )
            rows = self.session.execute(select(SALT).order_by(SALT.c.version.desc())).all()
        now = self.clock()
        found = [SaltVersion(rows[0].version, rows[0].salt, None)]
        for row in rows[1:]:
            until = row.superseded_at + self.grace
            if until > now:
                found.append(SaltVersion(row.version, row.salt, until))
        return found

    def rotate(self) -> SaltVersion:
        """A new salt version; the one it supersedes counts for the grace period."""
        now = self.clock()
        latest = self.session.execute(select(SALT.c.version).order_by(SALT.c.version.desc()))
        version = (latest.scalars().first() or 0) + 1
        self.session.execute(
            update(SALT).where(SALT.c.superseded_at.is_(None)).values(superseded_at=now)
        )
        salt = _new_salt()
        self.session.execute(SALT.insert().values(version=version, created_at=now, **salt))
        return SaltVersion(version, salt["salt"], None)

    def check(self, identifiers: Sequence[Identifier]) -> None:
        """Refuse hashes made with a salt that is unknown or past its grace."""
        if not identifiers:
            return
        honoured = {s.version for s in self.salts()}
        for identifier in identifiers:
            if identifier.salt_version not in honoured:
                raise InvalidRequest(
                    f"salt version {identifier.salt_version} is not honoured: fetch the current"
                    " alliance salt and hash again"
                )

    # --- hashes and suggestions -----------------------------------------------------------

    def remember(
        self, platform_id: str, account_id: str, identifiers: Sequence[dict[str, object]] | None
    ) -> None:
        """Keep what a platform sent for its (linked) account, newest answer winning."""
        now = self.clock()
        for raw in identifiers or ():
            key = {
                "platform_id": platform_id,
                "account_id": account_id,
                "type": str(raw["type"]),
                "salt_version": int(str(raw["salt_version"])),
            }
            if not insert_new(
                self.session, IDENTIFIER, {**key, "hash": raw["hash"], "seen_at": now}
            ):
                self.session.execute(
                    update(IDENTIFIER)
                    .where(*(IDENTIFIER.c[name] == value for name, value in key.items()))
                    .values(hash=raw["hash"], seen_at=now)
                )

    def suggestions(self, person_id: str) -> list[Suggestion]:
        """Platforms where an account of someone else shares a verified identifier with
        one of the person's accounts, and the person has no account yet."""
        mine = IDENTIFIER.alias("mine")
        theirs = IDENTIFIER.alias("theirs")
        own, other = ACCOUNT.alias("own"), ACCOUNT.alias("other")
        honoured = [s.version for s in self.salts()]
        linked = select(ACCOUNT.c.platform_id).where(ACCOUNT.c.person_id == person_id)
        rows = self.session.execute(
            select(theirs.c.platform_id, theirs.c.type)
            .join(
                own,
                and_(
                    own.c.platform_id == mine.c.platform_id, own.c.account_id == mine.c.account_id
                ),
            )
            .join(
                theirs,
                and_(
                    theirs.c.type == mine.c.type,
                    theirs.c.salt_version == mine.c.salt_version,
                    theirs.c.hash == mine.c.hash,
                ),
            )
            .join(
                other,
                and_(
                    other.c.platform_id == theirs.c.platform_id,
                    other.c.account_id == theirs.c.account_id,
                ),
            )
            .where(
                own.c.person_id == person_id,
                other.c.person_id != person_id,
                mine.c.salt_version.in_(honoured),
                theirs.c.platform_id.not_in(linked),
            )
            .distinct()
        ).all()
        found: dict[str, Suggestion] = {}
        for platform_id, kind in rows:
            member = self.session.get(Member, platform_id)
            if member is not None and member.status == MemberStatus.active:
                found.setdefault(member.id, Suggestion(member, str(kind)))
        return sorted(found.values(), key=lambda s: s.platform.name)

    def forget_expired(self) -> int:
        """Drop hashes under salts no longer honoured (the upkeep job)."""
        honoured = [s.version for s in self.salts()]
        result = self.session.execute(
            delete(IDENTIFIER).where(IDENTIFIER.c.salt_version.not_in(honoured))
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]
