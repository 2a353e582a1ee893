"""The demo users' profiles are valid under the data standard and within what a consent
to the brand's view makes necessary, so the gateway keeps every value once it is given."""

from __future__ import annotations

from jsonschema import Draft202012Validator, FormatChecker

from consent.records import expand
from consent.taxonomy import DataStandard, attribute_schema
from examples.cast import PLATFORMS
from gateway.demo import DEMO_ALLIANCE
from gateway.members.models import MemberKind


def test_every_demo_platform_has_its_cast() -> None:
    platforms = {m.slug for m in DEMO_ALLIANCE if m.kind is MemberKind.platform}
    assert set(PLATFORMS) == platforms
    for cast in PLATFORMS.values():
        assert 3 <= len(cast.users) <= 4
        assert len({u.username for u in cast.users}) == len(cast.users)
    accounts = [u.account_id for c in PLATFORMS.values() for u in c.users]
    assert len(set(accounts)) == len(accounts)
    # The scenario's person: at least the first two platforms know "mia".
    assert all(c.user("mia") for c in list(PLATFORMS.values())[:2])


def test_every_profile_is_valid_and_necessary_for_the_brand_view(standard: DataStandard) -> None:
    schema = attribute_schema(standard)
    validator = Draft202012Validator(
        {"$schema": schema["$schema"], "$defs": schema["$defs"], "$ref": "#/$defs/record"},
        format_checker=FormatChecker(),
    )
    necessary = expand(standard, frozenset(standard.purposes["marketing.brand_view"].necessity))
    for cast in PLATFORMS.values():
        for user in cast.users:
            record = {"platform_user_id": user.account_id, "attributes": dict(user.attributes)}
            assert not list(validator.iter_errors(record)), (cast.slug, user.username)
            assert set(user.attributes) <= necessary, set(user.attributes) - necessary
