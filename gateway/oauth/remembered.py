"""What one worker remembers of the token endpoint's reads, so that client
authentication and introspection are answered without the database.

- Clients: an active member's registration, by client id. Remembered under the tag
  current when it was read (:mod:`gateway.changes`): a member's update (secret
  rotated, disabled, method changed) makes it stale everywhere within the poll
  interval, and in the writing process at once.
- Revocations: whether an access token's ``jti`` or a grant is revoked. "Revoked" is
  final and kept; "not revoked" is kept under its tag.
- Verified access tokens: the claims of a token whose signature verified, by the
  SHA-256 of the token's exact text. The text cannot change, so neither can the verdict; what can is
  checked on every use: that the signing key is still published, and the expiry.

Unknown client ids are not remembered (a guess costs a lookup, as before). Each memory
holds at most ``size`` entries, dropping the oldest first. Reads made by a transaction
that itself changed a watched table are not remembered: they could see its own
uncommitted revocation.
"""

from __future__ import annotations

import hashlib
import threading
from typing import Any, Generic, TypeVar

from sqlmodel import Session

from gateway.changes import Changes, Tag, changed_in
from gateway.members.models import Member

V = TypeVar("V")
SIZE = 10_000


class Bounded(Generic[V]):
    """A dict of at most ``size`` entries; the oldest is dropped first."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: dict[str, V] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> V | None:
        return self._items.get(key)

    def put(self, key: str, value: V) -> None:
        with self._lock:
            self._items.pop(key, None)
            while len(self._items) >= self.size:
                del self._items[next(iter(self._items))]
            self._items[key] = value

    def __len__(self) -> int:
        return len(self._items)


class Remembered:
    def __init__(self, changes: Changes, size: int = SIZE) -> None:
        self.changes = changes
        self._clients: Bounded[tuple[Member, Tag]] = Bounded(size)
        self._revoked: Bounded[tuple[bool, Tag | None]] = Bounded(size)
        self._verified: Bounded[tuple[str, dict[str, Any]]] = Bounded(size)

    def tag(self, session: Session) -> Tag | None:
        """The tag for a read about to be made in ``session`` (None: do not remember it)."""
        return None if changed_in(session) else self.changes.tag()

    # --- clients --------------------------------------------------------------------------

    def client(self, client_id: str) -> Member | None:
        found = self._clients.get(client_id)
        if found is None or not self.changes.current(found[1]):
            return None
        return found[0]

    def keep_client(self, member: Member, tag: Tag | None) -> Member:
        """Remember an active member read under ``tag``; the copy to use from now on
        (detached from its session, so it neither expires nor loads lazily)."""
        if tag is None:
            return member
        copy = Member(**member.model_dump())
        self._clients.put(member.client_id, (copy, tag))
        return copy

    # --- revocations ----------------------------------------------------------------------

    def revoked(self, key: str) -> bool | None:
        """True (revoked: final), False (not revoked as of the current tag) or None."""
        found = self._revoked.get(key)
        if found is None:
            return None
        revoked, tag = found
        if revoked or self.changes.current(tag):
            return revoked
        return None

    def keep_revoked(self, key: str, revoked: bool, tag: Tag | None) -> None:
        if tag is not None:
            self._revoked.put(key, (revoked, None if revoked else tag))

    # --- verified access tokens -----------------------------------------------------------

    def verified(self, token: str) -> tuple[str, dict[str, Any]] | None:
        """The ``kid`` that verified this token and its claims, if it was verified here."""
        return self._verified.get(_digest(token))

    def keep_verified(self, token: str, kid: str, claims: dict[str, Any]) -> None:
        self._verified.put(_digest(token), (kid, claims))


def _digest(token: str) -> str:
    """Tokens are remembered by their SHA-256, so memory holds no bearer token."""
    return hashlib.sha256(token.encode()).hexdigest()
