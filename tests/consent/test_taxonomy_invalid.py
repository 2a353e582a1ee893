"""Every way the data standard can be wrong is refused with a message naming the key."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from consent.errors import TaxonomyError
from consent.taxonomy import DATA_DIR, load_standard

Docs = dict[str, Any]


def _category(docs: Docs, key: str) -> dict[str, Any]:
    return next(c for c in docs["categories.yaml"]["categories"] if c["key"] == key)


def _purpose(docs: Docs, key: str) -> dict[str, Any]:
    return next(p for p in docs["purposes.yaml"]["purposes"] if p["key"] == key)


def _vertical(docs: Docs, key: str) -> dict[str, Any]:
    return next(v for v in docs["interests.yaml"]["verticals"] if v["key"] == key)


def _tag(docs: Docs, vertical: str, key: str) -> dict[str, Any]:
    return next(t for t in _vertical(docs, vertical)["tags"] if t["key"] == key)


def _add_category(docs: Docs, **fields: Any) -> None:
    entry = {
        "title": {"en": "T", "zh": "标"},
        "description": {"en": "D", "zh": "述"},
        "version_added": "1.0.0",
        **fields,
    }
    docs["categories.yaml"]["categories"].append(entry)


def duplicate_category(docs: Docs) -> None:
    docs["categories.yaml"]["categories"].append(dict(_category(docs, "user.loyalty.tier")))


def duplicate_purpose(docs: Docs) -> None:
    docs["purposes.yaml"]["purposes"].append(dict(_purpose(docs, "identity.sso")))


def duplicate_tag(docs: Docs) -> None:
    tags = _vertical(docs, "beauty")["tags"]
    tags.append(dict(tags[0]))


def duplicate_vertical(docs: Docs) -> None:
    docs["interests.yaml"]["verticals"].append(dict(_vertical(docs, "travel")))


def unknown_parent(docs: Docs) -> None:
    _add_category(docs, key="user.wallet.balance", type="integer")


def unknown_necessity(docs: Docs) -> None:
    _purpose(docs, "identity.sso")["necessity"].append("user.account.shoe_size")


def unknown_replacement(docs: Docs) -> None:
    _category(docs, "user.channel.source")["replaced_by"] = "user.channel.nowhere"


def unknown_tag_replacement(docs: Docs) -> None:
    _tag(docs, "digital", "mp3_players")["replaced_by"] = "digital.walkman"


def category_cycle(docs: Docs) -> None:
    acquisition = _category(docs, "user.channel.acquisition")
    acquisition["deprecated"] = True
    acquisition["replaced_by"] = "user.channel.source"
    _purpose(docs, "analytics.aggregate")  # untouched: it does not use either


def tag_cycle(docs: Docs) -> None:
    target = _tag(docs, "digital", "portable_audio")
    target["deprecated"] = True
    target["replaced_by"] = "digital.mp3_players"


def needs_deprecated(docs: Docs) -> None:
    _purpose(docs, "analytics.aggregate")["necessity"].append("user.channel.source")


def replaced_but_not_deprecated(docs: Docs) -> None:
    _category(docs, "user.loyalty.tier")["replaced_by"] = "user.loyalty.points_balance"


def brand_purpose_bundled(docs: Docs) -> None:
    _purpose(docs, "marketing.brand_view")["separate_consent"] = False


def sensitive_purpose_bundled(docs: Docs) -> None:
    _purpose(docs, "personalize.content")["necessity"].append("user.health")


def leaf_without_type(docs: Docs) -> None:
    del _category(docs, "user.loyalty.tier")["type"]
    del _category(docs, "user.loyalty.tier")["values"]


def parent_with_type(docs: Docs) -> None:
    _category(docs, "user.loyalty")["type"] = "integer"


def enum_without_values(docs: Docs) -> None:
    del _category(docs, "user.loyalty.tier")["values"]


def inverted_range(docs: Docs) -> None:
    quality = _category(docs, "user.content_quality.overall")
    quality["minimum"], quality["maximum"] = 100, 0


def missing_chinese_title(docs: Docs) -> None:
    _category(docs, "user.loyalty.tier")["title"] = {"en": "Membership tier"}


def bad_key(docs: Docs) -> None:
    _add_category(docs, key="user.Loyalty-Tier", type="boolean")


def from_the_future(docs: Docs) -> None:
    _purpose(docs, "identity.sso")["version_added"] = "2.0.0"


def unknown_value_type(docs: Docs) -> None:
    _category(docs, "user.loyalty.points_balance")["type"] = "decimal"


def sensitivity_conflict(docs: Docs) -> None:
    _category(docs, "user.health.dietary_restriction")["sensitive"] = "biometric"


def string_without_bound(docs: Docs) -> None:
    del _category(docs, "user.account.nickname")["max_length"]


def bad_duration(docs: Docs) -> None:
    _purpose(docs, "identity.sso")["validity"] = "P1Y"


def family_without_placeholder(docs: Docs) -> None:
    docs["categories.yaml"]["vertical_families"][0]["title"] = {"en": "Interests", "zh": "兴趣"}


def unknown_field(docs: Docs) -> None:
    _category(docs, "user.loyalty.tier")["colour"] = "gold"


def unquoted_version(docs: Docs) -> None:
    _category(docs, "user.loyalty.tier")["version_added"] = 1.0


CASES: list[Any] = [
    pytest.param(
        duplicate_category, "duplicate category key 'user.loyalty.tier'", id="dup-category"
    ),
    pytest.param(duplicate_purpose, "duplicate purpose key 'identity.sso'", id="dup-purpose"),
    pytest.param(duplicate_tag, "duplicate interest tag key 'beauty.", id="dup-tag"),
    pytest.param(duplicate_vertical, "duplicate vertical key 'travel'", id="dup-vertical"),
    pytest.param(
        unknown_parent,
        "category 'user.wallet.balance': parent 'user.wallet' is not defined",
        id="unknown-parent",
    ),
    pytest.param(
        unknown_necessity,
        "purpose 'identity.sso': unknown category 'user.account.shoe_size'",
        id="unknown-necessity",
    ),
    pytest.param(
        unknown_replacement,
        "category 'user.channel.source': replaced_by 'user.channel.nowhere' is not defined",
        id="unknown-replacement",
    ),
    pytest.param(
        unknown_tag_replacement,
        "interest tag 'digital.mp3_players': replaced_by 'digital.walkman' is not defined",
        id="unknown-tag-replacement",
    ),
    pytest.param(
        category_cycle,
        "category 'user.channel.acquisition': replaced_by cycle user.channel.acquisition -> "
        "user.channel.source -> user.channel.acquisition",
        id="category-cycle",
    ),
    pytest.param(
        tag_cycle,
        "interest tag 'digital.mp3_players': replaced_by cycle digital.mp3_players -> "
        "digital.portable_audio -> digital.mp3_players",
        id="tag-cycle",
    ),
    pytest.param(
        needs_deprecated,
        "purpose 'analytics.aggregate': needs deprecated category 'user.channel.source' "
        "(use 'user.channel.acquisition')",
        id="needs-deprecated",
    ),
    pytest.param(
        replaced_but_not_deprecated,
        "category 'user.loyalty.tier': replaced_by is only for deprecated entries",
        id="replaced-not-deprecated",
    ),
    pytest.param(
        brand_purpose_bundled,
        "purpose 'marketing.brand_view': shares with brands, so it must require separate consent",
        id="third-party-not-separate",
    ),
    pytest.param(
        sensitive_purpose_bundled,
        "purpose 'personalize.content': uses sensitive category 'user.health.dietary_restriction'",
        id="sensitive-not-separate",
    ),
    pytest.param(
        leaf_without_type, "category 'user.loyalty.tier': a leaf needs a type", id="leaf-no-type"
    ),
    pytest.param(
        parent_with_type,
        "category 'user.loyalty': has sub-categories, so it cannot have a type",
        id="parent-with-type",
    ),
    pytest.param(
        enum_without_values,
        "category 'user.loyalty.tier': enum needs allowed values",
        id="enum-no-values",
    ),
    pytest.param(
        inverted_range,
        "category 'user.content_quality.overall': minimum is above maximum",
        id="inverted-range",
    ),
    pytest.param(
        missing_chinese_title,
        "categories.yaml: category 'user.loyalty.tier': title.zh: Field required",
        id="missing-zh",
    ),
    pytest.param(
        bad_key,
        "category 'user.Loyalty-Tier': key must be dotted snake_case",
        id="bad-key",
    ),
    pytest.param(
        from_the_future,
        "purpose 'identity.sso': version_added 2.0.0 is newer than 1.0.0",
        id="version-from-future",
    ),
    pytest.param(
        unknown_value_type,
        "category 'user.loyalty.points_balance': type: Input should be",
        id="unknown-type",
    ),
    pytest.param(
        sensitivity_conflict,
        "category 'user.health.dietary_restriction': sensitivity 'biometric' conflicts with "
        "parent's 'health'",
        id="sensitivity-conflict",
    ),
    pytest.param(
        string_without_bound,
        "category 'user.account.nickname': a string needs max_length",
        id="unbounded-string",
    ),
    pytest.param(
        bad_duration,
        "purpose 'identity.sso': validity: String should match pattern",
        id="bad-duration",
    ),
    pytest.param(
        family_without_placeholder,
        "family 'user.interest': titles must contain {vertical}",
        id="family-title",
    ),
    pytest.param(
        unknown_field,
        "category 'user.loyalty.tier': colour: Extra inputs are not permitted",
        id="unknown-field",
    ),
    pytest.param(
        unquoted_version,
        "category 'user.loyalty.tier': version_added: Input should be a valid string",
        id="unquoted-version",
    ),
]


def _copy_data(tmp_path: Path) -> Path:
    target = tmp_path / "standard"
    shutil.copytree(DATA_DIR, target)
    return target


def _load_docs(directory: Path) -> Docs:
    return {
        name: yaml.load((directory / name).read_text(encoding="utf-8"), Loader=yaml.CSafeLoader)
        for name in ("categories.yaml", "interests.yaml", "purposes.yaml")
    }


def _save_docs(directory: Path, docs: Docs) -> None:
    for name, document in docs.items():
        (directory / name).write_text(
            yaml.dump(document, Dumper=yaml.CSafeDumper, allow_unicode=True, sort_keys=False),
            encoding="utf-8",
        )


@pytest.mark.parametrize(("mutate", "message"), CASES)
def test_invalid_standard_is_refused_naming_the_key(
    tmp_path: Path, mutate: Callable[[Docs], None], message: str
) -> None:
    directory = _copy_data(tmp_path)
    docs = _load_docs(directory)
    mutate(docs)
    _save_docs(directory, docs)
    with pytest.raises(TaxonomyError) as caught:
        load_standard(directory)
    assert any(
        problem.startswith(message) or message in problem for problem in caught.value.problems
    ), caught.value.problems


def test_the_unmodified_copy_loads(tmp_path: Path) -> None:
    """The matrix above fails because of each mutation, not because of the copy."""
    directory = _copy_data(tmp_path)
    _save_docs(directory, _load_docs(directory))
    assert load_standard(directory).version == "1.0.0"


def test_duplicate_yaml_mapping_key_is_refused_with_its_line(tmp_path: Path) -> None:
    directory = _copy_data(tmp_path)
    path = directory / "standard.yaml"
    path.write_text(path.read_text(encoding="utf-8") + 'version: "9.9.9"\n', encoding="utf-8")
    with pytest.raises(TaxonomyError) as caught:
        load_standard(directory)
    (problem,) = caught.value.problems
    assert problem.startswith("standard.yaml: duplicate key 'version' (line ")


def test_missing_file_is_named(tmp_path: Path) -> None:
    directory = _copy_data(tmp_path)
    (directory / "purposes.yaml").unlink()
    with pytest.raises(TaxonomyError) as caught:
        load_standard(directory)
    assert caught.value.problems == ["missing file 'purposes.yaml'"]


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    directory = _copy_data(tmp_path)
    docs = _load_docs(directory)
    unknown_necessity(docs)
    inverted_range(docs)
    _save_docs(directory, docs)
    with pytest.raises(TaxonomyError) as caught:
        load_standard(directory)
    assert len(caught.value.problems) == 2
