"""The JSON Schema of profile-attribute payloads accepts the standard and nothing else."""

from __future__ import annotations

from typing import Any

import pytest
from jsonschema import Draft202012Validator

from consent.taxonomy import DataStandard, attribute_schema


@pytest.fixture(scope="module")
def validator(standard: DataStandard) -> Draft202012Validator:
    schema = attribute_schema(standard)
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def _batch(**attributes: Any) -> dict[str, Any]:
    return {"records": [{"platform_user_id": "u-1", "attributes": attributes}]}


GOOD: dict[str, Any] = {
    "user.demographic.city_tier": "new_tier_1",
    "user.interest.beauty": ["beauty.skincare"],
    "user.interaction.deep.trial_review.count_30d": 4,
    "user.interaction.deep.trial_review.last_at": "2026-11-20T08:30:00Z",
    "user.content_quality.overall": 87,
    "user.transaction.order_frequency": 2.5,
    "user.transaction.category_share.beauty": 0.4,
    "user.loyalty.points_balance": 1200,
    "user.biometric.face_verified": True,
    "user.account.nickname": "小红",
}


def test_a_well_formed_batch_validates(validator: Draft202012Validator) -> None:
    batch = _batch(**GOOD)
    batch["records"][0]["observed_at"] = "2026-11-24T00:00:00+08:00"
    assert list(validator.iter_errors(batch)) == []


def test_every_leaf_category_is_in_the_schema(standard: DataStandard) -> None:
    properties = attribute_schema(standard)["$defs"]["record"]["properties"]["attributes"]
    assert set(properties["properties"]) == {c.key for c in standard.leaves()}
    assert properties["properties"]["user.channel.source"]["deprecated"] is True
    assert properties["properties"]["user.minor.under_14"]["x-accord-sensitive"] == (
        "minor_under_14"
    )


@pytest.mark.parametrize(
    "batch",
    [
        pytest.param(_batch(**{"user.shoe_size": 42}), id="unknown-category"),
        pytest.param(_batch(**{"user.interaction": 3}), id="non-leaf-category"),
        pytest.param(_batch(**{"user.demographic.city_tier": "tier_9"}), id="enum-value"),
        pytest.param(_batch(**{"user.content_quality.overall": 101}), id="above-maximum"),
        pytest.param(_batch(**{"user.interaction.shallow.view.count_7d": -1}), id="negative-count"),
        pytest.param(_batch(**{"user.content_quality.overall": 50.5}), id="integer-type"),
        pytest.param(_batch(**{"user.interest.beauty": ["travel.cruises"]}), id="foreign-tag"),
        pytest.param(
            _batch(**{"user.interest.beauty": ["beauty.skincare", "beauty.skincare"]}),
            id="repeated-tag",
        ),
        pytest.param(
            _batch(**{"user.interaction.deep.live_qa.last_at": "yesterday"}), id="timestamp"
        ),
        pytest.param(_batch(**{"user.account.nickname": "x" * 65}), id="string-too-long"),
        pytest.param(
            _batch(**{"user.account.avatar_url": "http://cdn.example/a.png"}),
            id="string-pattern",
        ),
        pytest.param(_batch(), id="no-attributes"),
        pytest.param({"records": [{"attributes": GOOD}]}, id="no-platform-user-id"),
        pytest.param(
            {"records": [{"platform_user_id": "", "attributes": GOOD}]}, id="empty-user-id"
        ),
        pytest.param({"records": []}, id="empty-batch"),
        pytest.param({"records": [], "extra": 1}, id="unknown-top-level"),
    ],
)
def test_bad_payloads_are_refused(validator: Draft202012Validator, batch: dict[str, Any]) -> None:
    assert list(validator.iter_errors(batch)), "the schema accepted a bad payload"


def test_batches_are_capped_at_10000_records(validator: Draft202012Validator) -> None:
    record = {"platform_user_id": "u", "attributes": {"user.loyalty.tier": "gold"}}
    assert not list(validator.iter_errors({"records": [record] * 10_000}))
    errors = list(validator.iter_errors({"records": [record] * 10_001}))
    assert [e.validator for e in errors] == ["maxItems"]
