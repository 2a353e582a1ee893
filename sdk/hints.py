"""Link hints: a platform hashes the phone numbers and emails it verified with the
alliance salt, and sends the hashes with its answer to a login or link challenge.

Equal hashes at two platforms let the gateway suggest to the person that the two
accounts may be theirs; it never links them on its own. The salt rotates: fetch it with
:meth:`HintOperations.alliance_salt` (cache it for a while) and hash with the current
version; a superseded version is honoured for a grace period, then refused.
"""

from __future__ import annotations

import base64
import hashlib
import re
import unicodedata
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

from sdk.calls import Call, Request, operation
from sdk.signin import VerifiedIdentifier

PHONE = re.compile(r"^\+[1-9][0-9]{6,14}$")  # E.164
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class SaltVersion(BaseModel):
    model_config = ConfigDict(frozen=True)

    version: int
    salt: str  # base64url of 32 random bytes
    honoured_until: datetime | None = None  # None for the current version


class AllianceSalt(BaseModel):
    model_config = ConfigDict(frozen=True)

    versions: list[SaltVersion]  # the current version first

    @property
    def current(self) -> SaltVersion:
        return self.versions[0]


def normalize(kind: Literal["phone", "email"], value: str) -> str:
    """The one spelling both platforms hash: E.164 for phones (``+8613800138000``; spaces,
    dashes and brackets dropped), NFKC-normalised lower case for emails."""
    text = unicodedata.normalize("NFKC", value).strip()
    if kind == "phone":
        phone = re.sub(r"[\s\-().]", "", text)
        if not PHONE.match(phone):
            raise ValueError("a phone number must be in E.164 form, e.g. +8613800138000")
        return phone
    email = text.lower()
    if not EMAIL.match(email):
        raise ValueError("not an email address")
    return email


def hash_identifier(
    salt: SaltVersion, kind: Literal["phone", "email"], value: str
) -> VerifiedIdentifier:
    """``b64url(SHA-256(salt ‖ kind ‖ ":" ‖ normalised value))``: send only verified ones."""
    key = base64.urlsafe_b64decode(salt.salt + "=" * (-len(salt.salt) % 4))
    digest = hashlib.sha256(key + f"{kind}:{normalize(kind, value)}".encode()).digest()
    encoded = base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
    return VerifiedIdentifier(type=kind, hash=encoded, salt_version=salt.version)


class HintOperations:
    @operation
    def alliance_salt(self) -> Call[AllianceSalt]:
        """The current alliance salt (and a superseded one still honoured)."""
        request = Request("GET", "/v1/challenges/salt", member_auth=True)
        return Call(request, lambda r: AllianceSalt.model_validate(r.json()))
