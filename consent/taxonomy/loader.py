"""Load and validate the alliance data standard from its data files.

Every problem is collected and reported at once, each naming the key at fault:
unknown references, replacement cycles, duplicate keys, a purpose that needs a
deprecated category, and the consent rules a purpose must declare (PIPL Arts. 23, 29).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from consent.errors import TaxonomyError
from consent.taxonomy.document import digest_of
from consent.taxonomy.files import (
    RawCategory,
    RawFamily,
    RawPurpose,
    RawStandard,
    RawText,
    RawVertical,
    days,
    parse_entries,
    read_yaml,
)
from consent.taxonomy.model import (
    Category,
    DataStandard,
    InterestTag,
    MergeRule,
    Purpose,
    Text,
    ValueType,
    Vertical,
    leaves_under,
)

DATA_DIR = Path(__file__).parent / "data"
FILES = ("standard.yaml", "categories.yaml", "interests.yaml", "purposes.yaml")
KEY = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$")
NUMERIC = {ValueType.integer, ValueType.float}
ALLOWED_MERGE: dict[ValueType, set[MergeRule]] = {
    ValueType.integer: {MergeRule.sum, MergeRule.max, MergeRule.latest},
    ValueType.float: {MergeRule.sum, MergeRule.max, MergeRule.latest},
    ValueType.timestamp: {MergeRule.max, MergeRule.latest},
    ValueType.tag_set: {MergeRule.union, MergeRule.latest},
    ValueType.enum: {MergeRule.latest},
    ValueType.boolean: {MergeRule.latest},
    ValueType.string: {MergeRule.latest},
}


def load_standard(directory: Path | None = None) -> DataStandard:
    """Load the standard from ``directory`` (the packaged data by default)."""
    directory = directory or DATA_DIR
    problems: list[str] = []
    documents: dict[str, Any] = {}
    for name in FILES:
        path = directory / name
        if not path.is_file():
            problems.append(f"missing file '{name}'")
            continue
        try:
            documents[name] = read_yaml(path)
        except yaml.YAMLError as exc:
            problems.append(f"{name}: {_yaml_message(exc)}")
    if problems:
        raise TaxonomyError(problems)

    header = _parse_header(documents["standard.yaml"], problems)
    categories_doc = _mapping(documents["categories.yaml"], "categories.yaml", problems)
    raw_categories = parse_entries(
        RawCategory,
        categories_doc.get("categories", []),
        what="category",
        source="categories.yaml",
        problems=problems,
    )
    raw_families = parse_entries(
        RawFamily,
        categories_doc.get("vertical_families", []),
        what="family",
        source="categories.yaml",
        problems=problems,
    )
    raw_verticals = parse_entries(
        RawVertical,
        _mapping(documents["interests.yaml"], "interests.yaml", problems).get("verticals", []),
        what="vertical",
        source="interests.yaml",
        problems=problems,
    )
    raw_purposes = parse_entries(
        RawPurpose,
        _mapping(documents["purposes.yaml"], "purposes.yaml", problems).get("purposes", []),
        what="purpose",
        source="purposes.yaml",
        problems=problems,
    )
    if header is None or problems:
        raise TaxonomyError(problems)

    verticals = _build_verticals(raw_verticals, problems)
    categories = _build_categories(raw_categories, raw_families, verticals, problems)
    purposes = _build_purposes(raw_purposes, categories, problems)
    _check_versions(header.version, categories.values(), verticals, purposes.values(), problems)
    if problems:
        raise TaxonomyError(problems)

    standard = DataStandard(
        name=header.name,
        version=header.version,
        languages=tuple(header.languages),
        categories=dict(sorted(categories.items())),
        verticals=tuple(verticals),
        purposes=dict(sorted(purposes.items())),
    )
    return dataclasses.replace(standard, digest=digest_of(standard))


def _yaml_message(exc: yaml.YAMLError) -> str:
    problem = getattr(exc, "problem", None)
    mark = getattr(exc, "problem_mark", None)
    if problem and mark is not None:
        return f"{problem} (line {mark.line + 1})" if "line" not in problem else problem
    return str(exc).splitlines()[0]


def _mapping(document: Any, source: str, problems: list[str]) -> dict[str, Any]:
    if isinstance(document, dict):
        return document
    problems.append(f"{source}: must be a mapping")
    return {}


def _parse_header(document: Any, problems: list[str]) -> RawStandard | None:
    try:
        return RawStandard.model_validate(document)
    except ValueError as exc:
        problems.append(f"standard.yaml: {exc}".splitlines()[0])
        return None


def _text(raw: RawText) -> Text:
    return Text(en=raw.en, zh=raw.zh)


def _build_verticals(raw: list[RawVertical], problems: list[str]) -> list[Vertical]:
    verticals: list[Vertical] = []
    seen: set[str] = set()
    for rv in raw:
        if rv.key in seen:
            problems.append(f"duplicate vertical key '{rv.key}'")
            continue
        seen.add(rv.key)
        tags: list[InterestTag] = []
        tag_keys: set[str] = set()
        for rt in rv.tags:
            key = f"{rv.key}.{rt.key}"
            if key in tag_keys:
                problems.append(f"duplicate interest tag key '{key}'")
                continue
            tag_keys.add(key)
            tags.append(
                InterestTag(
                    key=key,
                    title=_text(rt.title),
                    description=_text(rt.description),
                    version_added=rt.version_added,
                    deprecated=rt.deprecated,
                    replaced_by=rt.replaced_by,
                )
            )
        verticals.append(
            Vertical(
                key=rv.key,
                title=_text(rv.title),
                description=_text(rv.description),
                version_added=rv.version_added,
                tags=tuple(tags),
            )
        )
    all_tags = {tag.key: tag for vertical in verticals for tag in vertical.tags}
    _check_replacements("interest tag", all_tags, problems)
    return verticals


def _build_categories(
    raw: list[RawCategory],
    families: list[RawFamily],
    verticals: list[Vertical],
    problems: list[str],
) -> dict[str, Category]:
    categories: dict[str, Category] = {}

    def add(category: Category) -> None:
        if not KEY.match(category.key):
            problems.append(f"category '{category.key}': key must be dotted snake_case")
        elif category.key in categories:
            problems.append(f"duplicate category key '{category.key}'")
        else:
            categories[category.key] = category

    for rc in raw:
        add(_category(rc, rc.key, _text(rc.title), _text(rc.description), rc.values))
    for family in families:
        if "{vertical}" not in family.title.en or "{vertical}" not in family.title.zh:
            problems.append(f"family '{family.parent}': titles must contain {{vertical}}")
            continue
        if family.values_from_vertical and family.type is not ValueType.tag_set:
            problems.append(f"family '{family.parent}': values_from_vertical needs type tag_set")
            continue
        for vertical in verticals:
            values = [t.key for t in vertical.tags] if family.values_from_vertical else None
            # Plain substitution, not str.format: other braces in the text stay literal.
            en, zh = vertical.title.en, vertical.title.zh
            title = Text(
                family.title.en.replace("{vertical}", en), family.title.zh.replace("{vertical}", zh)
            )
            description = Text(
                family.description.en.replace("{vertical}", en),
                family.description.zh.replace("{vertical}", zh),
            )
            add(_category(family, f"{family.parent}.{vertical.key}", title, description, values))

    children: dict[str, list[str]] = {}
    for key in categories:
        head, dot, _ = key.rpartition(".")
        if dot:
            children.setdefault(head, []).append(key)
            if head not in categories:
                problems.append(f"category '{key}': parent '{head}' is not defined")
    for key, category in categories.items():
        _check_shape(category, has_children=key in children, problems=problems)
    _check_replacements("category", categories, problems)
    return _inherit_sensitivity(categories, problems)


def _category(
    raw: RawCategory | RawFamily,
    key: str,
    title: Text,
    description: Text,
    values: list[str] | None,
) -> Category:
    merge = raw.merge
    if merge is None and raw.type is not None:
        merge = {
            ValueType.tag_set: MergeRule.union,
            ValueType.timestamp: MergeRule.max,
        }.get(raw.type, MergeRule.sum if raw.window else MergeRule.latest)
    return Category(
        key=key,
        title=title,
        description=description,
        version_added=raw.version_added,
        type=raw.type,
        unit=raw.unit,
        minimum=raw.minimum,
        maximum=raw.maximum,
        values=tuple(values or ()),
        max_length=raw.max_length,
        pattern=raw.pattern,
        window_days=days(raw.window) if raw.window else None,
        merge=merge,
        sensitive=raw.sensitive,
        deprecated=raw.deprecated if isinstance(raw, RawCategory) else False,
        replaced_by=raw.replaced_by if isinstance(raw, RawCategory) else None,
    )


def _check_shape(category: Category, *, has_children: bool, problems: list[str]) -> None:
    key, kind = category.key, category.type
    if kind is None:
        if not has_children:
            problems.append(f"category '{key}': a leaf needs a type")
        elif category.values or category.unit or category.window_days:
            problems.append(f"category '{key}': only leaves describe values")
        return
    if has_children:
        problems.append(f"category '{key}': has sub-categories, so it cannot have a type")
    if kind in {ValueType.enum, ValueType.tag_set}:
        if not category.values:
            problems.append(f"category '{key}': {kind} needs allowed values")
        elif len(set(category.values)) != len(category.values):
            problems.append(f"category '{key}': allowed values repeat")
    elif category.values:
        problems.append(f"category '{key}': only enum and tag_set have allowed values")
    if kind in NUMERIC:
        low, high = category.minimum, category.maximum
        if low is not None and high is not None and low > high:
            problems.append(f"category '{key}': minimum is above maximum")
        if kind is ValueType.integer and any(b is not None and b % 1 for b in (low, high)):
            problems.append(f"category '{key}': integer bounds must be whole numbers")
    elif category.minimum is not None or category.maximum is not None:
        problems.append(f"category '{key}': only numeric types have a range")
    if kind is ValueType.string:
        if category.max_length is None:
            problems.append(f"category '{key}': a string needs max_length")
        if category.pattern is not None:
            try:
                re.compile(category.pattern)
            except re.error:
                problems.append(f"category '{key}': pattern is not a regular expression")
    elif category.max_length is not None or category.pattern is not None:
        problems.append(f"category '{key}': only strings have max_length and pattern")
    if category.window_days is not None and kind is not ValueType.integer:
        problems.append(f"category '{key}': only integer counts have a window")
    if category.merge is not None and category.merge not in ALLOWED_MERGE[kind]:
        problems.append(f"category '{key}': merge '{category.merge}' does not fit type {kind}")


def _check_replacements(what: str, entries: Mapping[str, Any], problems: list[str]) -> None:
    for key, entry in entries.items():
        target = entry.replaced_by
        if target is None:
            continue
        if not entry.deprecated:
            problems.append(f"{what} '{key}': replaced_by is only for deprecated entries")
        if target not in entries:
            problems.append(f"{what} '{key}': replaced_by '{target}' is not defined")
            continue
        chain = [key]
        while target is not None and target in entries:
            if target in chain:
                if target == key:  # report each cycle once, from the entry it starts at
                    cycle = " -> ".join([*chain, target])
                    problems.append(f"{what} '{key}': replaced_by cycle {cycle}")
                break
            chain.append(target)
            target = entries[target].replaced_by


def _inherit_sensitivity(
    categories: dict[str, Category], problems: list[str]
) -> dict[str, Category]:
    built: dict[str, Category] = {}
    for key in sorted(categories, key=lambda k: k.count(".")):  # parents first
        category = categories[key]
        parent = built.get(category.parent) if category.parent else None
        if parent is not None and parent.sensitive is not None:
            if category.sensitive not in (None, parent.sensitive):
                problems.append(
                    f"category '{key}': sensitivity '{category.sensitive}' conflicts with "
                    f"parent's '{parent.sensitive}'"
                )
            category = dataclasses.replace(category, sensitive=parent.sensitive)
        built[key] = category
    return built


def _build_purposes(
    raw: list[RawPurpose], categories: Mapping[str, Category], problems: list[str]
) -> dict[str, Purpose]:
    purposes: dict[str, Purpose] = {}
    for rp in raw:
        key = rp.key
        if not KEY.match(key):
            problems.append(f"purpose '{key}': key must be dotted snake_case")
            continue
        if key in purposes:
            problems.append(f"duplicate purpose key '{key}'")
            continue
        necessity: set[str] = set()
        for name in dict.fromkeys(rp.necessity):
            category = categories.get(name)
            if rp.necessity.count(name) > 1:
                problems.append(f"purpose '{key}': lists category '{name}' more than once")
            if category is None:
                problems.append(f"purpose '{key}': unknown category '{name}'")
            elif category.deprecated:
                instead = f" (use '{category.replaced_by}')" if category.replaced_by else ""
                problems.append(f"purpose '{key}': needs deprecated category '{name}'{instead}")
            else:
                necessity |= leaves_under(categories, name)
        recipients = frozenset(rp.recipients)
        purpose = Purpose(
            key=key,
            title=_text(rp.title),
            description=_text(rp.description),
            lawful_basis=rp.lawful_basis,
            declared_necessity=tuple(rp.necessity),
            necessity=frozenset(necessity),
            recipients=recipients,
            separate_consent=rp.separate_consent,
            validity_days=days(rp.validity),
            retention_days=days(rp.retention),
            version_added=rp.version_added,
        )
        sensitive = sorted(k for k in necessity if categories[k].sensitive is not None)
        if not rp.separate_consent and purpose.shares_with_third_party:
            problems.append(
                f"purpose '{key}': shares with brands, so it must require separate consent "
                "(PIPL Art. 23)"
            )
        if not rp.separate_consent and sensitive:
            problems.append(
                f"purpose '{key}': uses sensitive category '{sensitive[0]}', so it must require "
                "separate consent (PIPL Art. 29)"
            )
        purposes[key] = purpose
    return purposes


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


def _check_versions(
    version: str,
    categories: Iterable[Category],
    verticals: Iterable[Vertical],
    purposes: Iterable[Purpose],
    problems: list[str],
) -> None:
    current = _version(version)
    entries: list[tuple[str, str, str]] = [("category", c.key, c.version_added) for c in categories]
    for vertical in verticals:
        entries.append(("vertical", vertical.key, vertical.version_added))
        entries.extend(("interest tag", t.key, t.version_added) for t in vertical.tags)
    entries.extend(("purpose", p.key, p.version_added) for p in purposes)
    for what, key, added in entries:
        if _version(added) > current:
            problems.append(f"{what} '{key}': version_added {added} is newer than {version}")
