"""The packaged data standard: coverage of every class the alliance relies on."""

from __future__ import annotations

import pytest

from consent.taxonomy import (
    DataStandard,
    LawfulBasis,
    MergeRule,
    RecipientKind,
    Sensitivity,
    ValueType,
    load_standard,
)

SHALLOW = ["view", "like", "comment", "share", "follow", "favourite"]
DEEP = ["trial_review", "co_creation", "customisation", "community_post", "live_qa", "group_buy"]
REQUIRED_PURPOSES = [
    "identity.linking",
    "identity.sso",
    "personalize.content",
    "marketing.brand_view",
    "analytics.aggregate",
    "train_ai_system.profile_model",
    "loyalty.points_recognition",
]
REQUIRED_VERTICALS = [
    "beauty",
    "fashion",
    "streetwear",
    "mother_baby",
    "food_farm",
    "home",
    "digital",
    "sports",
    "travel",
]


def test_at_least_200_interest_tags_in_a_two_level_tree(standard: DataStandard) -> None:
    tags = standard.tags
    assert len(tags) >= 200
    assert {v.key for v in standard.verticals} >= set(REQUIRED_VERTICALS)
    for key, tag in tags.items():
        vertical, _, leaf = key.partition(".")
        assert vertical == tag.vertical and leaf and "." not in leaf


def test_each_vertical_has_an_interest_category_whose_values_are_its_tags(
    standard: DataStandard,
) -> None:
    for vertical in standard.verticals:
        category = standard.categories[f"user.interest.{vertical.key}"]
        assert category.type is ValueType.tag_set
        assert set(category.values) == {t.key for t in vertical.tags}
        assert category.merge is MergeRule.union
        share = standard.categories[f"user.transaction.category_share.{vertical.key}"]
        assert (share.type, share.minimum, share.maximum) == (ValueType.float, 0, 1)


@pytest.mark.parametrize(
    ("key", "values"),
    [
        pytest.param("user.demographic.age_band", None, id="age-band"),
        pytest.param("user.demographic.generation", None, id="generation"),
        pytest.param(
            "user.demographic.city_tier",
            ["tier_1", "new_tier_1", "tier_2", "tier_3", "tier_4", "tier_5"],
            id="city-tier",
        ),
        pytest.param("user.demographic.region", None, id="region"),
        pytest.param("user.transaction.order_value_band", None, id="order-value-band"),
        pytest.param("user.device.type", None, id="device"),
        pytest.param("user.channel.primary", None, id="channel"),
    ],
)
def test_enumerated_classes(standard: DataStandard, key: str, values: list[str] | None) -> None:
    category = standard.categories[key]
    assert category.type is ValueType.enum
    assert category.values
    if values is not None:
        assert list(category.values) == values


@pytest.mark.parametrize(
    ("depth", "kind"),
    [pytest.param("shallow", k, id=f"shallow-{k}") for k in SHALLOW]
    + [pytest.param("deep", k, id=f"deep-{k}") for k in DEEP],
)
def test_interaction_classes_have_counts_per_window_and_recency(
    standard: DataStandard, depth: str, kind: str
) -> None:
    base = f"user.interaction.{depth}.{kind}"
    assert not standard.categories[base].is_leaf
    for days in (7, 30, 90):
        count = standard.categories[f"{base}.count_{days}d"]
        assert count.type is ValueType.integer
        assert count.window_days == days
        assert count.minimum == 0
        assert count.merge is MergeRule.sum  # counts add across platforms
    recency = standard.categories[f"{base}.last_at"]
    assert recency.type is ValueType.timestamp
    assert recency.merge is MergeRule.max  # the latest interaction wins
    assert standard.leaves_under(base) == {
        f"{base}.count_7d",
        f"{base}.count_30d",
        f"{base}.count_90d",
        f"{base}.last_at",
    }


def test_content_quality_scores_are_0_to_100(standard: DataStandard) -> None:
    for name in ("originality", "information_value", "interactivity", "overall"):
        category = standard.categories[f"user.content_quality.{name}"]
        assert (category.type, category.minimum, category.maximum) == (ValueType.integer, 0, 100)


def test_transactions_loyalty_device_and_channel(standard: DataStandard) -> None:
    assert standard.categories["user.transaction.order_frequency"].type is ValueType.float
    points = standard.categories["user.loyalty.points_balance"]
    assert (points.type, points.minimum, points.unit) == (ValueType.integer, 0, "points")
    assert standard.leaves_under("user.device") >= {"user.device.type", "user.device.os"}
    assert standard.leaves_under("user.channel") >= {
        "user.channel.primary",
        "user.channel.acquisition",
    }


@pytest.mark.parametrize(
    ("key", "kind"),
    [
        pytest.param("user.biometric.face_verified", Sensitivity.biometric, id="biometric"),
        pytest.param(
            "user.location.precise.latitude", Sensitivity.precise_location, id="precise-location"
        ),
        pytest.param(
            "user.financial.payment_account_bound",
            Sensitivity.financial_account,
            id="financial-account",
        ),
        pytest.param("user.health.dietary_restriction", Sensitivity.health, id="health"),
        pytest.param("user.minor.under_14", Sensitivity.minor_under_14, id="minor-under-14"),
    ],
)
def test_sensitive_categories_inherit_their_kind(
    standard: DataStandard, key: str, kind: Sensitivity
) -> None:
    assert standard.categories[key].sensitive is kind
    assert standard.is_sensitive(key)


def test_non_sensitive_siblings_stay_non_sensitive(standard: DataStandard) -> None:
    assert not standard.is_sensitive("user.demographic.city_tier")
    assert not standard.is_sensitive("user.interest.beauty")


def test_every_entry_is_titled_and_described_in_english_and_chinese(
    standard: DataStandard,
) -> None:
    texts = [(c.key, c.title, c.description) for c in standard.categories.values()]
    texts += [(p.key, p.title, p.description) for p in standard.purposes.values()]
    texts += [(v.key, v.title, v.description) for v in standard.verticals]
    texts += [(t.key, t.title, t.description) for t in standard.tags.values()]
    for key, title, description in texts:
        assert title.en.strip() and title.zh.strip(), key
        assert description.en.strip() and description.zh.strip(), key


@pytest.mark.parametrize("key", REQUIRED_PURPOSES)
def test_required_purposes(standard: DataStandard, key: str) -> None:
    purpose = standard.purposes[key]
    assert purpose.lawful_basis in set(LawfulBasis)
    assert purpose.necessity, "a purpose must need something"
    assert purpose.validity_days > 0 and purpose.retention_days > 0
    for category in purpose.necessity:
        assert standard.categories[category].is_leaf
        assert not standard.categories[category].deprecated


def test_third_party_and_sensitive_purposes_require_separate_consent(
    standard: DataStandard,
) -> None:
    for purpose in standard.purposes.values():
        sensitive = any(standard.is_sensitive(k) for k in purpose.necessity)
        if RecipientKind.brand in purpose.recipients or sensitive:
            assert purpose.separate_consent, purpose.key


def test_necessity_expands_parents_to_active_leaves(standard: DataStandard) -> None:
    view = standard.purposes["marketing.brand_view"]
    assert "user.interest" in view.declared_necessity
    assert standard.leaves_under("user.interest") <= view.necessity
    assert "user.interaction.shallow.view.count_7d" not in view.necessity  # deep only
    assert "user.location.precise.latitude" not in view.necessity


def test_deprecated_entries_point_to_active_replacements(standard: DataStandard) -> None:
    source = standard.categories["user.channel.source"]
    assert source.deprecated and source.replaced_by == "user.channel.acquisition"
    assert "user.channel.source" not in standard.leaves_under("user.channel")
    assert "user.channel.source" in standard.leaves_under("user.channel", include_deprecated=True)
    tag = standard.tags["digital.mp3_players"]
    assert tag.deprecated and tag.replaced_by == "digital.portable_audio"
    assert not standard.tags["digital.portable_audio"].deprecated


def test_digest_is_stable_and_identifies_the_content(standard: DataStandard) -> None:
    again = load_standard()
    assert again.digest == standard.digest
    assert standard.digest.startswith("sha256:") and len(standard.digest) == 71
