"""The standard as a JSON document, and the JSON Schema of profile-attribute payloads.

``GET /v1/schema`` and ``accord schema export`` both serve :func:`to_document`, so
the file and the endpoint cannot drift apart. The digest identifies one exact
content of the standard (for ETags and for consent records that cite it).
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any

from consent.taxonomy.model import Category, Text, ValueType

if TYPE_CHECKING:
    from consent.taxonomy.model import DataStandard

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
MAX_BATCH_RECORDS = 10_000
MAX_PLATFORM_USER_ID = 128


def to_document(standard: DataStandard) -> dict[str, Any]:
    body = _body(standard)
    return {**body, "digest": standard.digest or _digest(body)}


def digest_of(standard: DataStandard) -> str:
    return _digest(_body(standard))


def _digest(body: dict[str, Any]) -> str:
    canonical = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _body(standard: DataStandard) -> dict[str, Any]:
    return {
        "name": standard.name,
        "version": standard.version,
        "languages": list(standard.languages),
        "categories": [_category(c) for c in standard.categories.values()],
        "interest_verticals": [
            {
                "key": v.key,
                "title": _text(v.title),
                "description": _text(v.description),
                "version_added": v.version_added,
                "tags": [
                    _drop_none(
                        {
                            "key": t.key,
                            "title": _text(t.title),
                            "description": _text(t.description),
                            "version_added": t.version_added,
                            "deprecated": t.deprecated,
                            "replaced_by": t.replaced_by,
                        }
                    )
                    for t in v.tags
                ],
            }
            for v in standard.verticals
        ],
        "purposes": [
            {
                "key": p.key,
                "title": _text(p.title),
                "description": _text(p.description),
                "lawful_basis": p.lawful_basis.value,
                "necessity": list(p.declared_necessity),
                "necessary_categories": sorted(p.necessity),
                "recipients": sorted(r.value for r in p.recipients),
                "separate_consent": p.separate_consent,
                "validity": f"P{p.validity_days}D",
                "retention": f"P{p.retention_days}D",
                "version_added": p.version_added,
            }
            for p in standard.purposes.values()
        ],
        "attribute_schema": attribute_schema(standard),
    }


def _text(text: Text) -> dict[str, str]:
    return {"en": text.en, "zh": text.zh}


def _drop_none(entry: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in entry.items() if v is not None}


def _category(c: Category) -> dict[str, Any]:
    return _drop_none(
        {
            "key": c.key,
            "parent": c.parent,
            "title": _text(c.title),
            "description": _text(c.description),
            "type": c.type.value if c.type else None,
            "unit": c.unit,
            "minimum": c.minimum,
            "maximum": c.maximum,
            "values": list(c.values) or None,
            "max_length": c.max_length,
            "pattern": c.pattern,
            "window": f"P{c.window_days}D" if c.window_days else None,
            "merge": c.merge.value if c.merge else None,
            "sensitive": c.sensitive.value if c.sensitive else None,
            "version_added": c.version_added,
            "deprecated": c.deprecated,
            "replaced_by": c.replaced_by,
        }
    )


def value_schema(category: Category) -> dict[str, Any]:
    """JSON Schema of one leaf category's value."""
    schema: dict[str, Any]
    match category.type:
        case ValueType.enum:
            schema = {"type": "string", "enum": list(category.values)}
        case ValueType.integer | ValueType.float:
            schema = {"type": "integer" if category.type is ValueType.integer else "number"}
            for bound in ("minimum", "maximum"):
                value = getattr(category, bound)
                if value is not None:
                    schema[bound] = int(value) if category.type is ValueType.integer else value
        case ValueType.boolean:
            schema = {"type": "boolean"}
        case ValueType.tag_set:
            schema = {
                "type": "array",
                "items": {"type": "string", "enum": list(category.values)},
                "uniqueItems": True,
                "maxItems": len(category.values),
            }
        case ValueType.timestamp:
            schema = {"type": "string", "format": "date-time"}
        case ValueType.string:
            schema = {"type": "string", "minLength": 1, "maxLength": category.max_length}
            if category.pattern:
                schema["pattern"] = category.pattern
        case None:
            raise ValueError(f"category '{category.key}' is not a leaf")
    schema["title"] = category.title.en
    if category.unit:
        schema["x-accord-unit"] = category.unit
    if category.sensitive:
        schema["x-accord-sensitive"] = category.sensitive.value
    if category.deprecated:
        schema["deprecated"] = True
    return schema


def attribute_schema(standard: DataStandard) -> dict[str, Any]:
    """JSON Schema (2020-12) of a batch of profile attributes pushed by a platform."""
    properties = {c.key: value_schema(c) for c in standard.leaves()}
    return {
        "$schema": JSON_SCHEMA_DIALECT,
        "$id": f"urn:accord:data-standard:{standard.version}:profile-attributes",
        "title": f"{standard.name} {standard.version}: profile attribute batch",
        "type": "object",
        "required": ["records"],
        "additionalProperties": False,
        "properties": {
            "records": {
                "type": "array",
                "minItems": 1,
                "maxItems": MAX_BATCH_RECORDS,
                "items": {"$ref": "#/$defs/record"},
            }
        },
        "$defs": {
            "record": {
                "type": "object",
                "required": ["platform_user_id", "attributes"],
                "additionalProperties": False,
                "properties": {
                    "platform_user_id": {
                        "type": "string",
                        "minLength": 1,
                        "maxLength": MAX_PLATFORM_USER_ID,
                    },
                    "observed_at": {"type": "string", "format": "date-time"},
                    "attributes": {
                        "type": "object",
                        "minProperties": 1,
                        "additionalProperties": False,
                        "properties": properties,
                    },
                },
            }
        },
    }
