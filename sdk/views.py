"""Unified views: a brand reads what a person consented it may see, merged across the
platforms they linked, by its own pairwise ``sub`` and a purpose.

A subject the brand may not see (unknown, another brand's, erased, consent withdrawn
or never given) is simply not available: :meth:`ViewOperations.view` returns None and
:meth:`ViewOperations.views` maps it to None. Every view served is in the person's
access log.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ConfigDict

from sdk.calls import Call, Request, operation
from sdk.errors import error_from_response

MAX_SUBJECTS = 1000


class Source(BaseModel):
    """One platform's own value (provenance; not given for sensitive categories)."""

    model_config = ConfigDict(frozen=True)

    platform: str  # the platform's client id
    value: Any
    observed_at: datetime


class AttributeValue(BaseModel):
    model_config = ConfigDict(frozen=True)

    value: Any
    merge: str  # sum, max, union, latest; "derived" for the pseudonymous id
    observed_at: datetime | None = None
    sources: list[Source] | None = None


class View(BaseModel):
    model_config = ConfigDict(frozen=True)

    sub: str
    purpose: str
    consented: list[str]  # every category the consent grants, with a value or not
    attributes: dict[str, AttributeValue]
    as_of: datetime | None = None


def _view_or_none(response: httpx.Response) -> View | None:
    if response.status_code == 404:
        body = response.json() if response.content else {}
        if isinstance(body, dict) and body.get("error") == "not_found":
            return None
        raise error_from_response(response)
    return View.model_validate(response.json())


class ViewOperations:
    @operation
    def view(
        self, sub: str, purpose: str, categories: Sequence[str] | None = None
    ) -> Call[View | None]:
        """The person's view for ``purpose``, or None if none is available."""
        params: list[tuple[str, str]] = [("purpose", purpose)]
        params += [("category", c) for c in categories or ()]
        path = "/v1/views/" + quote(sub, safe="")
        request = Request("GET", path, params=tuple(params), member_auth=True)
        return Call(request, _view_or_none, ok_statuses=frozenset({404}))

    @operation
    def views(
        self, subs: Sequence[str], purpose: str, categories: Sequence[str] | None = None
    ) -> Call[dict[str, View | None]]:
        """Up to 1,000 views in one call: sub -> view, or None where none is available."""
        if not 1 <= len(subs) <= MAX_SUBJECTS:
            raise ValueError(f"ask for 1 to {MAX_SUBJECTS} subjects")
        body: dict[str, Any] = {"purpose": purpose, "subjects": list(subs)}
        if categories is not None:
            body["categories"] = list(categories)
        request = Request("POST", "/v1/views/batch", json=body, member_auth=True)

        def parse(response: httpx.Response) -> dict[str, View | None]:
            document = response.json()
            return {
                item["sub"]: View.model_validate(
                    {**item, "purpose": document["purpose"], "as_of": document["as_of"]}
                )
                if item["available"]
                else None
                for item in document["views"]
            }

        return Call(request, parse)
