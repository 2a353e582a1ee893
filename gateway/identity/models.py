"""Identity tables: a person, the platform accounts linked to them, and the pairwise
subjects issued for them. Only the gateway knows ``person.id``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Column,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    PrimaryKeyConstraint,
    String,
    UniqueConstraint,
    text,
)
from sqlmodel import Field

from gateway.db import Table, UTCDateTime, utcnow


class Person(Table, table=True):
    __tablename__ = "person"
    __table_args__ = (
        # The few minors, for "no minor without a guardian's reference" over many persons
        # (the sandbox's eligibility): an anti-join against a small index, not a scan.
        Index(
            "ix_person_minor",
            "id",
            postgresql_where=text("minor_under_14"),
            sqlite_where=text("minor_under_14"),
        ),
    )

    id: str = Field(primary_key=True, max_length=36)
    # Asserted by a platform that knows the person's age (PIPL Art. 31).
    minor_under_14: bool = Field(default=False)
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False, default=utcnow)
    )


class PlatformAccount(Table, table=True):
    """One platform's account of a person: ``(platform, account id)`` is unique."""

    __tablename__ = "platform_account"

    platform_id: str = Field(
        sa_column=Column(String(36), ForeignKey("member.id", ondelete="CASCADE"), primary_key=True)
    )
    account_id: str = Field(primary_key=True, max_length=255)
    person_id: str = Field(
        sa_column=Column(
            String(36), ForeignKey("person.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    linked_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False, default=utcnow)
    )


class PairwiseSubject(Table, table=True):
    """A ``sub`` issued for a person in a sector, so a member's ``sub`` can be resolved."""

    __tablename__ = "pairwise_subject"
    __table_args__ = (
        # On PostgreSQL the key carries the person: resolving subs is index-only.
        PrimaryKeyConstraint("sector", "sub", postgresql_include=["person_id"]),
        UniqueConstraint("sector", "person_id"),
    )

    sector: str = Field(sa_column=Column(String(253), nullable=False))
    sub: str = Field(sa_column=Column(String(64), nullable=False))
    person_id: str = Field(
        sa_column=Column(
            String(36), ForeignKey("person.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )


class LoginChallenge(Table, table=True):
    """A sign-in or link round trip through one platform (see ``challenges.py``).

    Short-lived: the upkeep job deletes a row once it expires. Only keyed hashes of the
    challenge, the verifier and the browser binding are stored."""

    __tablename__ = "login_challenge"
    __table_args__ = (
        CheckConstraint("kind IN ('login', 'link')", name="kind"),
        CheckConstraint("state IN ('pending', 'accepted', 'rejected', 'completed')", name="state"),
    )

    id: str = Field(primary_key=True, max_length=80)  # hash of the challenge
    kind: str = Field(max_length=8)
    state: str = Field(max_length=16)
    platform_id: str = Field(
        sa_column=Column(
            String(36), ForeignKey("member.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    client_id: str | None = Field(default=None, max_length=64)  # the relying party, if any
    browser_hash: str = Field(max_length=80)
    verifier_hash: str | None = Field(default=None, max_length=80, unique=True)
    context: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # The platform's answer.
    account_id: str | None = Field(default=None, max_length=255)
    acr: str | None = Field(default=None, max_length=64)
    amr: list[str] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    identifiers: list[dict[str, Any]] | None = Field(
        default=None, sa_column=Column(JSON, nullable=True)
    )
    error: str | None = Field(default=None, max_length=64)
    error_description: str | None = Field(default=None, max_length=300)
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    expires_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))
    answered_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))


class PendingLink(Table, table=True):
    """A platform account proven by a link challenge, waiting for the person to confirm
    the link (or, when it belongs to another person, the merge). Short-lived; only the
    keyed hash of the confirmation handle and of the browser binding are stored."""

    __tablename__ = "pending_link"

    id: str = Field(primary_key=True, max_length=80)  # hash of the page's handle
    person_id: str = Field(
        sa_column=Column(String(36), ForeignKey("person.id", ondelete="CASCADE"), nullable=False)
    )
    session_id: str = Field(max_length=80)  # the sign-in session that asked
    browser_hash: str = Field(max_length=80)
    platform_id: str = Field(
        sa_column=Column(String(36), ForeignKey("member.id", ondelete="CASCADE"), nullable=False)
    )
    account_id: str = Field(max_length=255)
    # The person the account belongs to now, if another: confirming merges the two.
    other_person_id: str | None = Field(
        default=None,
        sa_column=Column(String(36), ForeignKey("person.id", ondelete="CASCADE"), nullable=True),
    )
    identifiers: list[dict[str, Any]] | None = Field(
        default=None, sa_column=Column(JSON, nullable=True)
    )
    expires_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))


class AllianceSalt(Table, table=True):
    """The salt platforms hash verified identifiers with (link hints). A new version
    supersedes the last; the superseded one is honoured for a grace period."""

    __tablename__ = "alliance_salt"

    version: int = Field(primary_key=True)
    salt: str = Field(max_length=64)  # base64url of 32 random bytes
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    superseded_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))


class AccountIdentifier(Table, table=True):
    """A salted hash of a phone or email a platform verified for one of its accounts:
    equal hashes at two platforms make a link *suggestion*, never a link."""

    __tablename__ = "account_identifier"
    __table_args__ = (
        ForeignKeyConstraint(
            ["platform_id", "account_id"],
            ["platform_account.platform_id", "platform_account.account_id"],
            ondelete="CASCADE",
        ),
        CheckConstraint("type IN ('phone', 'email')", name="type"),
    )

    platform_id: str = Field(primary_key=True, max_length=36)
    account_id: str = Field(primary_key=True, max_length=255)
    type: str = Field(primary_key=True, max_length=8)
    salt_version: int = Field(primary_key=True)
    hash: str = Field(max_length=43, index=True)
    seen_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
