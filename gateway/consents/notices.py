"""Notice versions, managed by the operator (PIPL Arts. 14 and 17).

A consent rests on the exact notice text the person saw: its id, version and the
SHA-256 of the text. Publishing a new version of a notice makes every consent
given under an older one invalid (Art. 14: a change of purpose or processing needs
consent again); :meth:`Notices.dependents` finds them.
"""

from __future__ import annotations

import hashlib
import unicodedata
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlmodel import Session

from gateway.changes import Changes, Tag, changed_in
from gateway.consents.models import ConsentRecordRow, NoticeVersion
from gateway.db import core, insert_new, utcnow
from gateway.errors import Conflict, InvalidRequest, NotFound

NOTICE, RECORD = core(NoticeVersion), core(ConsentRecordRow)
MAX_TEXT = 200_000  # characters


def text_hash(text: str) -> str:
    """The hash of the exact text shown; NFC first, so equal texts hash equally."""
    normal = unicodedata.normalize("NFC", text)
    return "sha256:" + hashlib.sha256(normal.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class NoticeHead:
    notice_id: str
    version: int
    text_hash: str
    language: str


class Notices:
    def __init__(self, session: Session) -> None:
        self.session = session

    def publish(self, notice_id: str, text: str, language: str) -> NoticeVersion:
        if not text.strip():
            raise InvalidRequest("a notice needs its text")
        if len(text) > MAX_TEXT:
            raise InvalidRequest(f"a notice text is at most {MAX_TEXT} characters")
        latest = self.current(notice_id)
        digest = text_hash(text)
        if latest is not None and latest.text_hash == digest and latest.language == language:
            raise Conflict("this text is already the current version")
        version = NoticeVersion(
            notice_id=notice_id,
            version=(latest.version if latest else 0) + 1,
            language=language,
            text=unicodedata.normalize("NFC", text),
            text_hash=digest,
            published_at=utcnow(),
        )
        if not insert_new(self.session, NOTICE, version.model_dump()):
            raise Conflict("another version was published meanwhile; try again")
        return version

    def current(self, notice_id: str) -> NoticeVersion | None:
        row = self.session.execute(
            select(NOTICE)
            .where(NOTICE.c.notice_id == notice_id)
            .order_by(NOTICE.c.version.desc())
            .limit(1)
        ).first()
        return NoticeVersion.model_validate(row._mapping) if row else None

    def head(self, notice_id: str) -> NoticeHead | None:
        """The current version without its text: what a consent cites."""
        row = self.session.execute(
            select(NOTICE.c.notice_id, NOTICE.c.version, NOTICE.c.text_hash, NOTICE.c.language)
            .where(NOTICE.c.notice_id == notice_id)
            .order_by(NOTICE.c.version.desc())
            .limit(1)
        ).first()
        return NoticeHead(*row) if row else None

    def get(self, notice_id: str, version: int) -> NoticeVersion:
        row = self.session.execute(
            select(NOTICE).where(NOTICE.c.notice_id == notice_id, NOTICE.c.version == version)
        ).first()
        if row is None:
            raise NotFound(f"no version {version} of notice {notice_id!r}")
        return NoticeVersion.model_validate(row._mapping)

    def versions(self, notice_id: str) -> list[NoticeVersion]:
        rows = self.session.execute(
            select(NOTICE).where(NOTICE.c.notice_id == notice_id).order_by(NOTICE.c.version)
        )
        return [NoticeVersion.model_validate(r._mapping) for r in rows]

    def current_versions(self) -> dict[str, int]:
        """The current version of every notice: what decisions compare records with."""
        rows = self.session.execute(
            select(NOTICE.c.notice_id, func.max(NOTICE.c.version)).group_by(NOTICE.c.notice_id)
        )
        return {str(notice_id): int(version) for notice_id, version in rows}

    def dependents(self, notice_id: str, below: int) -> list[str]:
        """Records still in force (or lapsed but renewable) under an older version."""
        rows = self.session.execute(
            select(RECORD.c.record_id)
            .where(
                RECORD.c.notice_id == notice_id,
                RECORD.c.notice_version < below,
                RECORD.c.state.in_(["given", "expired"]),
            )
            .order_by(RECORD.c.record_id)
        )
        return [str(r) for (r,) in rows]


class CurrentVersions:
    """The current version of every notice, as one worker remembers it.

    Every decision compares records with the current versions; they change only when
    the operator publishes. A publish changes a watched table (:mod:`gateway.changes`),
    so what is remembered is used only under the tag current when it was read: another
    worker's publish is seen within the counter's poll interval, this process's at
    once. A transaction that published itself reads afresh."""

    def __init__(self, changes: Changes) -> None:
        self.changes = changes
        self._kept: tuple[dict[str, int], Tag] | None = None

    def read(self, session: Session) -> dict[str, int]:
        kept = self._kept
        if kept is not None and not changed_in(session) and self.changes.current(kept[1]):
            return kept[0]
        tag = None if changed_in(session) else self.changes.tag()
        versions = Notices(session).current_versions()
        if tag is not None:
            self._kept = (versions, tag)
        return versions
