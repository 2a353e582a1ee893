"""Attribute ingest: a platform pushes standardized profile attributes for its users.

A batch (1 to 10,000 records) is checked record by record against the data standard's
JSON Schema: a bad record gets its own errors and the rest go on. A value is kept only
for a person the gateway knows (the account is linked) and only for a category that an
in-force consent to a brand makes necessary (PIPL Art. 6, minimal storage), until the
longest retention of those purposes after its observation; every other value is
dropped and counted by reason. A batch carries an idempotency key: a retry with the
same key and body gets the first answer again, so a lost response never stores twice.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from functools import cached_property
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from sqlmodel import Session

from consent.taxonomy import DataStandard, attribute_schema
from gateway.db import core, insert_new, utcnow
from gateway.errors import InvalidRequest, KeyReused
from gateway.identity.persons import Persons
from gateway.views import store
from gateway.views.merge import numeric, parse_time
from gateway.views.models import AttributeBatch

BATCH = core(AttributeBatch)
MAX_RECORDS = 10_000
MAX_KEY = 255
KEEP_ANSWERS = timedelta(hours=24)  # how long a key's answer is replayed
CLOCK_SKEW = timedelta(minutes=5)  # an observation may be this far "in the future"
DERIVED = frozenset({"user.account.pseudonymous_id"})  # each recipient's own: never stored
MAX_ERRORS_PER_RECORD = 20


class Dropped(StrEnum):
    """Why a valid value was not kept."""

    not_linked = "not_linked"  # no person holds this account
    not_consented = "not_consented"  # no in-force consent makes the category necessary
    derived = "derived"  # the gateway computes it for each recipient
    expired = "expired"  # observed longer ago than any retention that applies
    stale = "stale"  # a newer observation from this platform is already kept


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]
    replayed: bool = False


@dataclass
class _Tally:
    stored: int = 0
    dropped: Counter[str] = field(default_factory=Counter)


class AttributeRules:
    """The standard's attribute schema, compiled once per process."""

    def __init__(self, standard: DataStandard) -> None:
        self.standard = standard

    @cached_property
    def record(self) -> Draft202012Validator:
        schema = attribute_schema(self.standard)
        record = {"$schema": schema["$schema"], "$defs": schema["$defs"], "$ref": "#/$defs/record"}
        return Draft202012Validator(record, format_checker=FormatChecker())

    def problems(self, index: int, record: Any) -> list[dict[str, str]]:
        found: list[dict[str, str]] = []
        for error in sorted(self.record.iter_errors(record), key=lambda e: list(e.absolute_path)):
            pointer = "".join(f"/{_escape(part)}" for part in error.absolute_path)
            found.append({"pointer": f"/records/{index}{pointer}", "detail": _say(error)})
            if len(found) == MAX_ERRORS_PER_RECORD:
                break
        return found


def _escape(part: object) -> str:
    return str(part).replace("~", "~0").replace("/", "~1")  # RFC 6901


_SAYS = {  # by JSON Schema keyword; none of them quotes the value
    "enum": "is not one of the standard's values",
    "type": "must be of type {limit}",
    "minimum": "breaks minimum {limit}",
    "maximum": "breaks maximum {limit}",
    "minLength": "breaks minLength {limit}",
    "maxLength": "breaks maxLength {limit}",
    "minItems": "breaks minItems {limit}",
    "maxItems": "breaks maxItems {limit}",
    "minProperties": "needs at least one attribute",
    "format": "is not a valid {limit}",
    "pattern": "does not match the standard's pattern",
    "uniqueItems": "holds a value twice",
}


def _say(error: Any) -> str:
    """What is wrong, without echoing the value (it may be personal data)."""
    keyword = str(error.validator)
    if keyword == "required":
        return str(error.message)[:200]  # names the missing member, not a value
    if keyword == "additionalProperties":
        extra = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        return "not in the standard: " + ", ".join(str(k)[:120] for k in extra[:5])
    return _SAYS.get(keyword, "fails {keyword}").format(
        limit=error.validator_value, keyword=keyword
    )


def request_hash(body: bytes) -> str:
    return "sha256:" + hashlib.sha256(body).hexdigest()


class Ingest:
    def __init__(self, session: Session, rules: AttributeRules, persons: Persons) -> None:
        self.session = session
        self.rules = rules
        self.persons = persons

    def push(
        self, platform_id: str, key: str, body: bytes, *, now: datetime | None = None
    ) -> Answer:
        """Take one batch, or replay the answer its key already got."""
        now = now or utcnow()
        if not key or len(key) > MAX_KEY or not key.isprintable():
            raise InvalidRequest(
                f"an Idempotency-Key header of 1 to {MAX_KEY} characters is required"
            )
        digest = request_hash(body)
        claimed = insert_new(
            self.session,
            BATCH,
            {
                "platform_id": platform_id,
                "key": key,
                "request_hash": digest,
                "status": 0,
                "response": {},
                "created_at": now,
                "expires_at": now + KEEP_ANSWERS,
            },
        )
        if not claimed:  # a retry (a concurrent one waited here for the first to commit)
            earlier = self.session.get(AttributeBatch, (platform_id, key))
            if earlier is not None and earlier.expires_at > now:
                if earlier.request_hash != digest:
                    raise KeyReused("this Idempotency-Key was used with another body")
                return Answer(earlier.status, earlier.response, replayed=True)
            self.session.execute(  # an old answer past its time: the key is free again
                BATCH.update()
                .where(BATCH.c.platform_id == platform_id, BATCH.c.key == key)
                .values(request_hash=digest, created_at=now, expires_at=now + KEEP_ANSWERS)
            )
        answer = self._take(platform_id, key, _records(body), now)
        self.session.execute(
            BATCH.update()
            .where(BATCH.c.platform_id == platform_id, BATCH.c.key == key)
            .values(status=answer.status, response=answer.body)
        )
        return answer

    def _take(self, platform_id: str, key: str, records: list[Any], now: datetime) -> Answer:
        errors: list[dict[str, Any]] = []
        valid: list[tuple[int, dict[str, Any]]] = []
        for index, record in enumerate(records):
            problems = self.rules.problems(index, record)
            if not problems:
                observed = record.get("observed_at")
                if observed is not None and parse_time(observed) > now + CLOCK_SKEW:
                    problems = [
                        {
                            "pointer": f"/records/{index}/observed_at",
                            "detail": "observed_at is in the future",
                        }
                    ]
            if problems:
                account = record.get("platform_user_id") if isinstance(record, dict) else None
                errors.append(
                    {
                        "index": index,
                        "platform_user_id": account if isinstance(account, str) else None,
                        "problems": problems,
                    }
                )
            else:
                valid.append((index, record))
        tally = self._keep(platform_id, valid, now)
        body = {
            "idempotency_key": key,
            "records": len(records),
            "accepted": len(valid),
            "rejected": len(errors),
            "values": {
                "stored": tally.stored,
                "dropped": {reason.value: tally.dropped[reason.value] for reason in Dropped},
            },
            "errors": errors,
        }
        return Answer(200, body)

    def _keep(
        self, platform_id: str, valid: list[tuple[int, dict[str, Any]]], now: datetime
    ) -> _Tally:
        tally = _Tally()
        accounts = [record["platform_user_id"] for _, record in valid]
        persons = self.persons.of_accounts(platform_id, accounts)
        kept = store.retention(self.session, list(set(persons.values())), now)
        standard = self.rules.standard
        rows: dict[tuple[str, str], store.Row] = {}  # the latest per (person, category)
        for _, record in valid:
            values: dict[str, Any] = record["attributes"]
            person = persons.get(record["platform_user_id"])
            if person is None:
                tally.dropped[Dropped.not_linked] += len(values)
                continue
            observed = parse_time(record["observed_at"]) if "observed_at" in record else now
            allowed = kept.get(person, {})
            for category, value in values.items():
                if category in DERIVED:
                    tally.dropped[Dropped.derived] += 1
                    continue
                days = allowed.get(category)
                if days is None:
                    tally.dropped[Dropped.not_consented] += 1
                    continue
                expires = observed + timedelta(days=days)
                if expires <= now:
                    tally.dropped[Dropped.expired] += 1
                    continue
                row = store.Row(
                    person,
                    category,
                    platform_id,
                    value,
                    numeric(standard.categories[category], value),
                    observed,
                    expires,
                )
                earlier = rows.get((person, category))
                if earlier is not None:
                    tally.dropped[Dropped.stale] += 1  # one of the two loses
                    if earlier.observed_at > observed:
                        continue
                rows[(person, category)] = row
        written = store.upsert(self.session, list(rows.values()))
        tally.stored = written
        tally.dropped[Dropped.stale] += len(rows) - written
        store.refresh_merged(standard, self.session, rows.keys())
        return tally


def _records(body: bytes) -> list[Any]:
    """The batch's records; the envelope itself must be right, or nothing is taken."""
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise InvalidRequest("the body is not JSON") from None
    if not isinstance(document, dict) or set(document) != {"records"}:
        raise InvalidRequest('the body is an object with one member, "records"')
    records = document["records"]
    if not isinstance(records, list) or not 1 <= len(records) <= MAX_RECORDS:
        raise InvalidRequest(f'"records" is an array of 1 to {MAX_RECORDS} records')
    return records
