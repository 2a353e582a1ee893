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

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from consent import policy
from consent.taxonomy import DataStandard, RecipientKind
from gateway.consents import store as consents_store
from gateway.consents.notices import Notices
from gateway.db import chunks, core
from gateway.errors import InvalidRequest
from gateway.identity.models import PairwiseSubject
from gateway.identity.persons import Persons
from gateway.members.models import Member
from gateway.views import store
from gateway.views.access_log import AccessLog, Entry, What
from gateway.views.ingest import DERIVED
from gateway.views.merge import Merged, rule_of

SUBJECT, MEMBER = core(PairwiseSubject), core(Member)
MAX_SUBJECTS = 1000
NOBODY = "00000000-0000-0000-0000-000000000000"  # no person has it: same queries, no answer


@dataclass(frozen=True)
class View:
    sub: str
    purpose: str
    consented: tuple[str, ...]  # the categories granted
    attributes: dict[str, dict[str, Any]]  # category -> value, observed_at, merge, sources


class Views:
    def __init__(self, session: Session, standard: DataStandard, persons: Persons) -> None:
        self.session = session
        self.standard = standard
        self.persons = persons

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
        persons = self._persons(brand, subs)
        found = list(dict.fromkeys(persons.values())) or [NOBODY]
        histories = consents_store.histories_for(self.session, found, brand.id, purpose)
        notices = Notices(self.session).current_versions()
        minors = self.persons.minors(found)
        granted: dict[str, frozenset[str]] = {}
        for person in found:
            question = policy.Question(person, brand.id, RecipientKind.brand, purpose, asked, now)
            facts = policy.Facts(self.standard, notices, person in minors)
            decision = policy.decide(question, histories.get(person, []), facts)
            if decision.granted_by:
                granted[person] = frozenset(decision.granted_by)
        wanted = set().union(*granted.values()) - DERIVED if granted else set()
        merged = store.merged(self.standard, self.session, list(granted), wanted)
        names = self._platform_names(merged)
        views: list[View | None] = []
        entries: list[Entry] = []
        for sub in subs:
            if sub not in persons or persons[sub] not in granted:
                views.append(None)
                continue
            person = persons[sub]
            values = merged.get(person, {})
            attributes = {
                key: self._attribute(key, values[key], names)
                for key in sorted(granted[person])
                if key in values
            }
            if "user.account.pseudonymous_id" in granted[person]:
                attributes["user.account.pseudonymous_id"] = {"value": sub, "merge": "derived"}
            views.append(View(sub, purpose, tuple(sorted(granted[person])), attributes))
            entries.append(Entry(person, brand.id, purpose, list(attributes), What.view, now))
        AccessLog(self.session).record_many(entries)
        return views

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

    def _persons(self, brand: Member, subs: Sequence[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        for chunk in chunks(subs):
            rows = self.session.execute(
                select(SUBJECT.c.sub, SUBJECT.c.person_id).where(
                    SUBJECT.c.sector == brand.sector, SUBJECT.c.sub.in_(chunk)
                )
            )
            found.update({str(s): str(p) for s, p in rows})
        return found

    def _platform_names(self, merged: dict[str, dict[str, Merged]]) -> dict[str, str]:
        ids = {
            o.platform_id for values in merged.values() for m in values.values() for o in m.sources
        }
        if not ids:
            return {}
        rows = self.session.execute(
            select(MEMBER.c.client_id, MEMBER.c.id).where(MEMBER.c.id.in_(sorted(ids)))
        )
        return {str(member_id): str(client_id) for client_id, member_id in rows}

    def _attribute(self, key: str, merged: Merged, names: dict[str, str]) -> dict[str, Any]:
        category = self.standard.categories[key]
        out: dict[str, Any] = {
            "value": merged.value,
            "observed_at": merged.observed_at.isoformat(),
            "merge": rule_of(category).value,
        }
        if category.sensitive is None:  # provenance would say more of a sensitive category
            out["sources"] = [
                {
                    "platform": names.get(o.platform_id, ""),
                    "value": o.value,
                    "observed_at": o.observed_at.isoformat(),
                }
                for o in merged.sources
            ]
        return out


def view_body(view: View, as_of: datetime) -> dict[str, Any]:
    return {
        "sub": view.sub,
        "purpose": view.purpose,
        "as_of": as_of.isoformat(),
        "consented": list(view.consented),
        "attributes": view.attributes,
    }
