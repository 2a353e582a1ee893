"""Attribute ingest: a platform pushes its users' profile attributes under the data
standard (``GET /v1/schema/attributes`` is the JSON Schema of a batch).

A batch holds 1 to 10,000 records. Give each batch an idempotency key and send the same
key again when you retry it (a timeout, a lost response): the gateway answers a retry
with the first answer and stores nothing twice. A bad record is answered with its own
errors and the rest are taken; valid values the gateway may not keep (an account it does
not know, a category no consent needs, ...) are dropped and counted by reason.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from sdk.calls import Call, Request, operation

MAX_RECORDS = 10_000


class AttributeRecord(BaseModel):
    """One user's attributes: leaf category -> value, as the platform observed them."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    platform_user_id: str = Field(min_length=1, max_length=255)
    attributes: dict[str, Any]
    observed_at: datetime | None = None  # default: when the gateway receives it


class AttributeProblem(BaseModel):
    model_config = ConfigDict(frozen=True)

    pointer: str  # RFC 6901, into the batch: "/records/3/attributes/user.demographic.age_band"
    detail: str


class RecordError(BaseModel):
    model_config = ConfigDict(frozen=True)

    index: int
    platform_user_id: str | None
    problems: list[AttributeProblem]


class ValueCounts(BaseModel):
    model_config = ConfigDict(frozen=True)

    stored: int
    dropped: dict[str, int]  # not_linked, not_consented, derived, expired, stale


class PushResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    idempotency_key: str
    records: int
    accepted: int
    rejected: int
    values: ValueCounts
    errors: list[RecordError]
    replayed: bool = False  # the answer of an earlier push with the same key


def _body(records: Sequence[AttributeRecord | Mapping[str, Any]]) -> dict[str, Any]:
    if not 1 <= len(records) <= MAX_RECORDS:
        raise ValueError(f"a batch holds 1 to {MAX_RECORDS} records")
    return {
        "records": [
            (r if isinstance(r, AttributeRecord) else AttributeRecord.model_validate(r)).model_dump(
                mode="json", exclude_none=True
            )
            for r in records
        ]
    }


class AttributeOperations:
    @operation
    def push_attributes(
        self,
        records: Sequence[AttributeRecord | Mapping[str, Any]],
        *,
        idempotency_key: str | None = None,
    ) -> Call[PushResult]:
        """Push one batch; keep ``idempotency_key`` to retry it safely (a new one if None)."""
        key = idempotency_key or str(uuid.uuid4())
        request = Request(
            "POST",
            "/v1/attributes",
            json=_body(records),
            headers={"Idempotency-Key": key},
            member_auth=True,
        )

        def parse(response: Any) -> PushResult:
            replayed = response.headers.get("idempotent-replayed") == "true"
            return PushResult.model_validate({**response.json(), "replayed": replayed})

        return Call(request, parse)
