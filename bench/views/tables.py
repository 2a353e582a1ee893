"""COPY data of the identity and consent tables for the bench population, in chunks
(text; binary for the log and the events).

Rows are what the gateway's own write paths would have written:

- ``consent_record`` as ``gateway.consents.store`` writes it (the terms, the notice
  cited at its current version, ``state``/``ends_at`` projections; a withdrawal keeps
  ``ends_at`` at ``valid_until``, as ``SqlJournalStore.append`` does);
- ``consent_event``: a ``given`` event at ``valid_from``, and a ``withdrawn`` one for
  withdrawn records; ``principal`` is the recipient's pairwise ``sub``, and each event
  has its ``log_leaf`` (queued in time order, not yet sequenced: ``idx`` NULL; random
  commitments and salts);
- ``pairwise_subject`` for every (person, recipient) with a consent, as
  ``Persons.subjects`` remembers them on each consent write.

Where it is free, rows come in the order of their primary key or a unique index
(record, receipt and event ids are drawn sorted; subjects by sector and ``sub``), so
those indexes are built from sorted input.
"""

from __future__ import annotations

import base64
import hmac
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from bench.views.copydata import (
    DAY,
    NULL,
    Binary,
    Clock,
    lines,
    uuid_matrix,
    uuid_texts,
    uuids,
)
from bench.views.population import BENCH, MEMBERS, PURPOSES, Population, asked
from consent.records import SCHEMA_VERSION
from consent.taxonomy import DataStandard
from gateway.consents import category_sets
from gateway.consents.notices import NoticeHead

CHUNK = 10_000  # rows per piece of COPY text (a few MB: large strings cost page faults)
RECORD_CHUNK = 4_000
Piece = tuple[str | bytes, int]  # COPY text (or binary COPY rows) and its number of rows
BINARY_CHUNK = 50_000


@dataclass(frozen=True)
class Alliance:
    """What registering the members gave, by their index in ``MEMBERS``."""

    ids: list[str]
    client_ids: list[str]
    sectors: list[str]
    contacts: list[str]  # contact email: a record's recipient_contact
    notices: list[NoticeHead]
    issuer: str  # a record's withdrawal method is the consent center at the issuer


def persons(pop: Population, ids: list[str], clock: Clock) -> Iterator[Piece]:
    """``person (id, minor_under_14, created_at)``."""
    created = clock.before(pop.person_age)
    for lo in range(0, len(ids), CHUNK):
        hi = min(lo + CHUNK, len(ids))
        yield lines(ids[lo:hi], ["f"] * (hi - lo), created[lo:hi]), hi - lo


def accounts(
    pop: Population, person_ids: list[str], alliance: Alliance, clock: Clock
) -> Iterator[Piece]:
    """``platform_account (platform_id, account_id, person_id, linked_at)``."""
    platforms = np.array(alliance.ids, dtype=object)
    people = np.array(person_ids, dtype=object)
    for lo in range(0, len(pop.acc_person), CHUNK):
        part = slice(lo, min(lo + CHUNK, len(pop.acc_person)))
        numbers = [f"u{n:09d}" for n in pop.acc_number[part].tolist()]
        yield (
            lines(
                platforms[pop.acc_platform[part]],
                numbers,
                people[pop.acc_person[part]],
                clock.before(pop.acc_age[part]),
            ),
            len(numbers),
        )


class Subjects:
    """The pairwise ``sub`` of every (person, recipient) pair with a consent."""

    def __init__(
        self, pop: Population, person_ids: list[str], alliance: Alliance, key: bytes
    ) -> None:
        pairs, self.of_record = np.unique(
            pop.rec_person * len(MEMBERS) + pop.rec_member, return_inverse=True
        )
        self.person, self.member = np.divmod(pairs, len(MEMBERS))
        sectors = [s.encode("ascii") for s in alliance.sectors]
        self.subs = [
            base64.urlsafe_b64encode(
                hmac.digest(key, sectors[m] + person_ids[p].encode("ascii"), "sha256")
            )
            .rstrip(b"=")
            .decode("ascii")
            for p, m in zip(self.person.tolist(), self.member.tolist(), strict=True)
        ]
        self._sectors = np.array(alliance.sectors, dtype=object)
        self._people = person_ids

    def rows(self) -> Iterator[Piece]:
        """``pairwise_subject (sector, sub, person_id)``, in primary-key order."""
        people = np.array(self._people, dtype=object)
        subs = np.array(self.subs, dtype=object)
        sector_rank = np.argsort(np.argsort(self._sectors.astype(str)))
        order = np.lexsort((subs.astype(str), sector_rank[self.member]))
        for lo in range(0, len(order), CHUNK):
            pairs = order[lo : lo + CHUNK]
            yield (
                lines(self._sectors[self.member[pairs]], subs[pairs], people[self.person[pairs]]),
                len(pairs),
            )


class Consents:
    """``consent_record``, ``log_leaf`` and ``consent_event`` rows."""

    RECORD_COLUMNS = (
        "record_id, receipt_id, person_id, recipient_id, recipient_kind, recipient_name, "
        "recipient_contact, purpose, categories_digest, lawful_basis, "
        "consent_type, separate, sensitive, guardian_ref, notice_id, notice_version, "
        "notice_hash, language, jurisdiction, storage_location, retention_days, "
        "withdrawal_method, "
        "standard_version, schema_version, valid_from, valid_until, state, ends_at"
    )
    EVENT_COLUMNS = (
        "event_id, record_id, seq, type, at, actor, method, ip_hash, user_agent, "
        "valid_until, reason, principal, salt, leaf_id"
    )
    LEAF_COLUMNS = "id, idx, commitment, queued_at"

    def __init__(
        self,
        pop: Population,
        person_ids: list[str],
        alliance: Alliance,
        standard: DataStandard,
        clock: Clock,
    ) -> None:
        self.pop, self.clock = pop, clock
        self.people = np.array(person_ids, dtype=object)
        rng = np.random.default_rng([pop.seed, 4])
        self.record_uuid = uuids(rng, len(pop.rec_person), ordered=True)
        terms = []
        validity = []
        for member, fixture in enumerate(MEMBERS):
            notice = alliance.notices[member]
            for purpose_key in PURPOSES:
                purpose = standard.purposes[purpose_key]
                categories = asked(standard, purpose_key, fixture.kind)
                terms.append(
                    "\t".join(
                        [
                            alliance.ids[member],
                            fixture.kind.value,
                            fixture.name,
                            alliance.contacts[member],
                            purpose_key,
                            category_sets.digest(categories),
                            purpose.lawful_basis.value,
                            "explicit",
                            "t",  # separate: every record here is given on its own
                            "f",  # sensitive: no purpose used here needs sensitive data
                            NULL,
                            notice.notice_id,
                            str(notice.version),
                            notice.text_hash,
                            notice.language,
                            "CN",
                            "CN",
                            str(purpose.retention_days),
                            alliance.issuer.rstrip("/") + "/consents",
                            standard.version,
                            SCHEMA_VERSION,
                        ]
                    )
                )
                validity.append(purpose.validity_days)
        self.terms = np.array(terms, dtype=object)
        self.validity = np.array(validity, dtype=np.int64)
        # Events: every record's "given" (seq 0) and the withdrawals (seq 1), in the
        # order of the (type, at) indexes: the uniques on (record, seq) sort instead.
        withdrawn = np.flatnonzero(pop.rec_withdrawn >= 0)
        record = np.concatenate([np.arange(len(pop.rec_person)), withdrawn])
        seq = np.repeat([0, 1], [len(pop.rec_person), len(withdrawn)])
        ages = np.concatenate([pop.rec_age, pop.rec_withdrawn[withdrawn]])
        by_type_at = np.lexsort((-ages, seq))  # "given" < "withdrawn", then oldest first
        self.event_record, self.event_seq = record[by_type_at], seq[by_type_at]
        self.event_at = clock.now - ages[by_type_at]
        order = np.argsort(self.event_at, kind="stable")  # leaves queue in time order
        self.leaf_of_event = np.empty(len(order), dtype=np.int64)
        self.leaf_of_event[order] = np.arange(1, len(order) + 1)
        self.leaf_order = order
        self.event_uuid = uuids(rng, len(order), ordered=True)

    def records(self) -> Iterator[Piece]:
        pop, now = self.pop, self.clock.now
        # receipt ids in order too: their unique index is then built from sorted input
        receipts = uuids(np.random.default_rng([pop.seed, 5]), len(pop.rec_person), ordered=True)
        for lo in range(0, len(pop.rec_person), RECORD_CHUNK):
            part = slice(lo, min(lo + RECORD_CHUNK, len(pop.rec_person)))
            kind = pop.rec_member[part] * len(PURPOSES) + pop.rec_purpose[part]
            start = now - pop.rec_age[part]
            until = self.clock.texts(start + self.validity[kind] * DAY)
            states = np.where(pop.rec_withdrawn[part] >= 0, "withdrawn", "given").astype(object)
            ids = uuid_texts(self.record_uuid[part])
            yield (
                lines(
                    ids,
                    uuid_texts(receipts[part]),
                    self.people[pop.rec_person[part]],
                    self.terms[kind],
                    self.clock.texts(start),
                    until,
                    states,
                    until,
                ),
                len(ids),
            )

    def leaves(self) -> Iterator[Piece]:
        """``log_leaf`` rows (binary COPY): queued, not sequenced."""
        rng = np.random.default_rng([self.pop.seed, 6])
        total = len(self.leaf_order)
        for lo in range(0, total, BINARY_CHUNK):
            hi = min(lo + BINARY_CHUNK, total)
            commitments = np.frombuffer(rng.bytes(32 * (hi - lo)), dtype=np.uint8)
            rows = (
                Binary(hi - lo, 4)
                .integer(np.arange(lo + 1, hi + 1))
                .null()
                .matrix(commitments.reshape(hi - lo, 32))
                .timestamp(self.event_at[self.leaf_order[lo:hi]])
                .build()
            )
            yield rows, hi - lo

    def events(self, subjects: Callable[[], Subjects]) -> Iterator[Piece]:
        """``consent_event`` rows (binary COPY)."""
        pop = self.pop
        rng = np.random.default_rng([pop.seed, 7])
        brand = pop.rec_member >= BENCH  # brands follow the platforms in MEMBERS
        methods = np.array([b"platform_ui", b"consent_center"])
        subs = subjects()  # computed by another lane meanwhile
        principal = np.array(subs.subs, dtype="S")[subs.of_record]
        kinds = np.array([b"given", b"withdrawn"])
        for lo in range(0, len(self.event_record), BINARY_CHUNK):
            hi = min(lo + BINARY_CHUNK, len(self.event_record))
            record, seq = self.event_record[lo:hi], self.event_seq[lo:hi]
            salts = np.frombuffer(rng.bytes(32 * (hi - lo)), dtype=np.uint8)
            rows = (
                Binary(hi - lo, 14)
                .matrix(uuid_matrix(self.event_uuid[lo:hi]))
                .matrix(uuid_matrix(self.record_uuid[record]))
                .integer(seq, ">i4")
                .text(kinds[seq])
                .timestamp(self.event_at[lo:hi])
                .text(np.full(hi - lo, b"person"))
                .text(methods[np.where(seq > 0, 1, brand[record])])
                .null()
                .null()
                .null()
                .null()
                .text(principal[record])
                .matrix(salts.reshape(hi - lo, 32))
                .integer(self.leaf_of_event[lo:hi])
                .build()
            )
            yield rows, hi - lo
