"""The alliance data standard, as members read it from ``GET /v1/schema``."""

from __future__ import annotations

from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict

from sdk.calls import Call, Request, operation


class _Model(BaseModel):
    # Newer gateways may add fields: read what we know, keep the rest.
    model_config = ConfigDict(extra="allow", frozen=True)


class LocalText(_Model):
    en: str
    zh: str


class CategoryInfo(_Model):
    key: str
    title: LocalText
    description: LocalText
    type: str | None = None
    sensitive: str | None = None
    deprecated: bool = False
    replaced_by: str | None = None


class PurposeInfo(_Model):
    key: str
    title: LocalText
    description: LocalText
    lawful_basis: str
    necessity: list[str]
    necessary_categories: list[str]
    recipients: list[str]
    separate_consent: bool
    validity: str
    retention: str


class StandardDocument(_Model):
    name: str
    version: str
    digest: str
    languages: list[str]
    categories: list[CategoryInfo]
    purposes: list[PurposeInfo]
    interest_verticals: list[dict[str, Any]]
    attribute_schema: dict[str, Any]

    def category(self, key: str) -> CategoryInfo:
        for category in self.categories:
            if category.key == key:
                return category
        raise KeyError(key)

    def purpose(self, key: str) -> PurposeInfo:
        for purpose in self.purposes:
            if purpose.key == key:
                return purpose
        raise KeyError(key)


class Health(_Model):
    status: str


class GatewayOperations:
    """Operations every member client has."""

    _standard: tuple[str, StandardDocument] | None = None  # (etag, document)

    @operation
    def health(self) -> Call[Health]:
        """Liveness of the gateway."""
        return Call(Request("GET", "/healthz"), lambda r: Health.model_validate(r.json()))

    @operation
    def data_standard(self) -> Call[StandardDocument]:
        """The data standard; revalidated with its ETag, so unchanged ones cost no body."""
        cached = self._standard
        headers = {"If-None-Match": cached[0]} if cached else {}

        def parse(response: httpx.Response) -> StandardDocument:
            if response.status_code == 304 and cached is not None:
                return cached[1]
            document = StandardDocument.model_validate(response.json())
            etag = response.headers.get("etag")
            self._standard = (etag, document) if etag else None
            return document

        return Call(Request("GET", "/v1/schema", headers=headers), parse, frozenset({304}))

    @operation
    def attribute_schema(self) -> Call[dict[str, Any]]:
        """JSON Schema (2020-12) of the profile-attribute batches platforms push."""

        def parse(response: httpx.Response) -> dict[str, Any]:
            schema = response.json()
            if not isinstance(schema, dict):
                raise ValueError("not a JSON Schema object")
            return schema

        return Call(Request("GET", "/v1/schema/attributes"), parse)
