"""The unified view: what a brand may see of a person, merged across platforms.

A brand names the person by its own pairwise ``sub`` and a purpose. The view holds
exactly the categories the one consent decision grants (consented ∩ necessary), each
merged by the standard's rule, with every platform's own value as provenance unless
the category is sensitive. Every view served is appended to the person's access log
in the same transaction.

A subject that is unknown, another brand's, erased, or whose consent was withdrawn,
expired or never given gets one and the same answer ("not available"), after the same
queries, so a brand cannot tell them apart.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlmodel import Session

from consent import policy
from consent.records import History
from consent.taxonomy import DataStandard, RecipientKind
from gateway.consents import store as consents_store
from gateway.consents import terms
from gateway.consents.notices import CurrentVersions
from gateway.consents.terms import Shape, history_shape
from gateway.db import among, core
from gateway.errors import InvalidRequest
from gateway.identity.models import PairwiseSubject, Person
from gateway.members.models import Member
from gateway.views import document, store
from gateway.views.access_log import AccessLog, Entry, What
from gateway.views.ingest import DERIVED

SUBJECT, PERSON = core(PairwiseSubject), core(Person)
MAX_SUBJECTS = 1000
AHEAD_FROM = 50  # persons in a batch from which entries are read on a second connection
BY_TERMS_FROM = 20  # persons in a batch from which shapes come from records' projections
NOBODY = "00000000-0000-0000-0000-000000000000"
PSEUDONYM = "user.account.pseudonymous_id"  # no person has it: same queries, no answer


@dataclass(frozen=True)
class View:
    sub: str
    purpose: str
    consented: tuple[str, ...]  # the categories granted, sorted
    categories: tuple[str, ...]  # those the view holds a value of
    # The members of the ``attributes`` object as text, in pieces: the stored entries
    # (``"category":entry,...``), then each derived one. Answers are written from the
    # pieces, never by copying one view's text into a larger one.
    members: tuple[str, ...]

    @property
    def attributes(self) -> str:
        """``{"category": entry, ...}``: stored ones, then derived."""
        return "{" + ",".join(self.members) + "}"


class Views:
    """Views of one brand's subjects, read in the request's session.

    With ``reader`` (a session factory), a batch of at least :data:`AHEAD_FROM` persons
    reads their view entries on a second connection while the consent decisions are
    made on the first, so the two run at once. The entries read ahead are those of
    every stored category the purpose may show; the decision stays what chooses what a
    view holds: a person granted all of them gets the entries read ahead, one granted
    fewer has theirs read again for exactly those, and one granted none gets nothing.
    The two reads may see different moments, which can only hide a value (deleted when
    a consent ended after the decision) or bring none the decision does not grant.
    """

    def __init__(
        self,
        session: Session,
        standard: DataStandard,
        notices: CurrentVersions,
        reader: Callable[[], Session] | None = None,
        decided: Callable[[Iterable[policy.Decision]], None] | None = None,
        slots: threading.BoundedSemaphore | None = None,
    ) -> None:
        self.session = session
        self.standard = standard
        self.notices = notices  # the current versions, as the worker remembers them
        self.reader = reader
        self.slots = slots  # taken without waiting for each read ahead, else none is made
        self.decided = decided  # told every person's decision (the metrics)

    def read(
        self,
        brand: Member,
        purpose: str,
        subs: Sequence[str],
        categories: Sequence[str] | None,
        now: datetime,
    ) -> list[View | None]:
        """The view of each subject in order, or None where none is available."""
        asked = self._asked(purpose, categories)
        if not 1 <= len(subs) <= MAX_SUBJECTS:
            raise InvalidRequest(f"ask for 1 to {MAX_SUBJECTS} subjects")
        persons, minors = self._persons(brand, subs)
        found = list(dict.fromkeys(persons.values())) or [NOBODY]
        every = tuple(sorted(k for k in asked if k not in DERIVED))
        slot = (
            self.reader is not None
            and len(found) >= AHEAD_FROM
            and (self.slots is None or self.slots.acquire(blocking=False))
        )
        try:
            with ThreadPoolExecutor(max_workers=1) as ahead:
                early = (
                    ahead.submit(_read_apart, self.reader, dict.fromkeys(found, every))
                    if slot and self.reader is not None
                    else None
                )
                granted = self._granted(brand, purpose, asked, found, minors, now)
                stored = {
                    keys: tuple(k for k in keys if k not in DERIVED)
                    for keys in set(granted.values())
                }
                wanted = {person: stored[keys] for person, keys in granted.items()}
                entries_of: dict[str, store.Entries] = {}
                if early is not None:
                    read = early.result()
                    entries_of = {
                        p: read[p] for p, keys in wanted.items() if keys == every and p in read
                    }
                    wanted = {p: keys for p, keys in wanted.items() if keys != every}
        finally:
            if slot and self.slots is not None:
                self.slots.release()
        entries_of.update(store.entries(self.session, wanted))
        views: list[View | None] = []
        reads: list[Entry] = []
        among = self.standard.purposes[purpose].necessity  # what every entry chose from
        for sub in subs:
            if sub not in persons or persons[sub] not in granted:
                views.append(None)
                continue
            person = persons[sub]
            keys = granted[person]
            mine = entries_of.get(person, store.NO_ENTRIES)
            pieces = (mine.members,) if mine.members else ()
            view = View(sub, purpose, keys, mine.categories, pieces)
            if PSEUDONYM in keys:
                view = _with(view, PSEUDONYM, document.derived(sub))
            views.append(view)
            reads.append(Entry(person, brand.id, purpose, view.categories, What.view, now, among))
        AccessLog(self.session).record_many(reads)
        return views

    def _granted(
        self,
        brand: Member,
        purpose: str,
        asked: frozenset[str],
        persons: list[str],
        minors: set[str],
        now: datetime,
    ) -> dict[str, tuple[str, ...]]:
        """person -> the categories the one decision grants, sorted (only persons granted
        any).

        ``policy.decide`` is pure: persons whose records agree in everything it reads
        get the same answer (:mod:`gateway.consents.terms`), so it runs once per such
        shape, not once per person (a batch of 1,000 has a handful). Up to
        :data:`BY_TERMS_FROM` persons, the shapes come from their histories; from there,
        from their records' projections, and only one person of each shape has their
        history read and decided on. Should that history's shape differ from the
        projections', everyone of that shape is decided from their own history.

        A person's records are judged at ``now`` or at their latest event if that is
        later: an event already committed counts, even when the clock of the process
        that wrote it runs ahead of this one's (as the projections count it)."""
        known: dict[str, list[History]] = {}
        shapes: dict[str, Shape]
        from_terms = len(persons) >= BY_TERMS_FROM
        if not from_terms:
            known = consents_store.histories_for(self.session, persons, brand.id, purpose)
            shapes = {p: _of_histories(p in minors, known[p], now) for p in persons}
        else:
            found = terms.terms_for(self.session, persons, brand.id, purpose)
            shapes = {p: (p in minors, *(t.shape(now) for t in found.get(p, ()))) for p in persons}
        alike: dict[Shape, list[str]] = {}
        for person in persons:
            alike.setdefault(shapes[person], []).append(person)
        first = [group[0] for group in alike.values() if group[0] not in known]
        known.update(consents_store.histories_for(self.session, first, brand.id, purpose))
        notices = self.notices.read(self.session)

        def decide(person: str) -> tuple[policy.Decision, tuple[str, ...]]:
            moment = _moment(known[person], now)
            question = policy.Question(
                person, brand.id, RecipientKind.brand, purpose, asked, moment
            )
            facts = policy.Facts(self.standard, notices, person in minors)
            decision = policy.decide(question, known[person], facts)
            return decision, tuple(sorted(decision.granted_by))

        answers: dict[str, tuple[policy.Decision, tuple[str, ...]]] = {}
        for shape, group in alike.items():
            head = group[0]
            if not from_terms or _of_histories(head in minors, known[head], now) == shape:
                answer = decide(head)
                answers.update(dict.fromkeys(group, answer))
                continue
            rest = [p for p in group if p not in known]
            known.update(consents_store.histories_for(self.session, rest, brand.id, purpose))
            answers.update({p: decide(p) for p in group})
        granted: dict[str, tuple[str, ...]] = {}
        decisions: list[policy.Decision] = []
        for person in persons:
            decision, keys = answers[person]
            if person != NOBODY:
                decisions.append(decision)
            if keys:
                granted[person] = keys
        if self.decided is not None:
            self.decided(decisions)
        return granted

    def _asked(self, purpose: str, categories: Sequence[str] | None) -> frozenset[str]:
        found = self.standard.purposes.get(purpose)
        if found is None or RecipientKind.brand not in found.recipients:
            raise InvalidRequest(f"'{purpose}' is not a purpose open to brands")
        if categories is None:
            return found.necessity
        unknown = sorted(c for c in categories if c not in self.standard.categories)
        if unknown:
            raise InvalidRequest(f"unknown categories: {', '.join(unknown[:5])}")
        leaves: set[str] = set()
        for key in categories:
            leaves |= self.standard.leaves_under(key)
        outside = sorted(leaves - found.necessity)
        if outside or not leaves:
            raise InvalidRequest(
                f"not necessary for '{purpose}' (PIPL Art. 6): {', '.join(outside[:5]) or '-'}"
            )
        return frozenset(leaves)

    def _persons(self, brand: Member, subs: Sequence[str]) -> tuple[dict[str, str], set[str]]:
        """sub -> person, for the brand's subjects among ``subs``; and which of those
        persons are marked as under 14. One read: the minor flag is asked of the partial
        index of minors (``ix_person_minor``: PostgreSQL hashes it once), not of each
        person's row, which took two more pages per subject."""
        found: dict[str, str] = {}
        minors: set[str] = set()
        minor = (
            select(PERSON.c.id)
            .where(PERSON.c.id == SUBJECT.c.person_id, PERSON.c.minor_under_14)
            .exists()
        )
        for chosen in among(self.session, SUBJECT.c.sub, subs):
            rows = self.session.execute(
                select(SUBJECT.c.sub, SUBJECT.c.person_id, minor).where(
                    SUBJECT.c.sector == brand.sector, chosen
                )
            )
            for sub, person, is_minor in rows:
                found[str(sub)] = str(person)
                if is_minor:
                    minors.add(str(person))
        return found, minors


def _read_apart(
    reader: Callable[[], Session], wanted: dict[str, tuple[str, ...]]
) -> dict[str, store.Entries]:
    """The entries, on a connection of their own (read only: closing rolls back)."""
    with reader() as session:
        return store.entries(session, wanted)


def _moment(histories: Sequence[History], now: datetime) -> datetime:
    """``now``, or the latest of these records' events if later (a writer's clock ahead)."""
    return max([now, *(e.at for h in histories for e in h.events)])


def _of_histories(minor: bool, histories: Sequence[History], now: datetime) -> Shape:
    """The shape of a person's records, judged at :func:`_moment`."""
    at = _moment(histories, now)
    return (minor, *(history_shape(h, at) for h in histories))


def _with(view: View, category: str, entry: str) -> View:
    """The view with one more (derived) entry, after the stored ones."""
    pair = f"{document.dumps(category)}:{entry}"
    categories = (*view.categories, category)
    return View(view.sub, view.purpose, view.consented, categories, (*view.members, pair))


def view_body(view: View, as_of: datetime) -> str:
    """The single view's JSON, as text."""
    return (
        f'{{"sub":{document.dumps(view.sub)},"purpose":{document.dumps(view.purpose)},'
        f'"as_of":{document.dumps(as_of.isoformat())},'
        f'"consented":{document.keys(view.consented)},'
        f'"attributes":{view.attributes}}}'
    )


def batch_body(
    purpose: str, as_of: datetime, subs: Sequence[str], views: Sequence[View | None]
) -> bytes:
    """The batch's JSON, encoded: written as pieces and joined once (an answer of 1,000
    views is some 8 MB; each extra copy of it costs milliseconds)."""
    parts = [
        f'{{"purpose":{document.dumps(purpose)},"as_of":{document.dumps(as_of.isoformat())},'
        '"views":['
    ]
    for n, (sub, view) in enumerate(zip(subs, views, strict=True)):
        parts.append(f'{"," if n else ""}{{"sub":{document.dumps(sub)},')
        if view is None:
            parts.append('"available":false}')
            continue
        parts.append(
            f'"available":true,"consented":{document.keys(view.consented)},"attributes":{{'
        )
        for m, member in enumerate(view.members):
            parts.append(f",{member}" if m else member)
        parts.append("}}")
    parts.append("]}")
    return "".join(parts).encode("utf-8")
