"""Who is who in the demo alliance, as its apps see it: each platform's look and its
demo users, with the profile each user has at that platform.

The same people (Mia, Leo, Ava, ...) hold accounts at several platforms under the same
user name, so the scenario reads naturally: sign in at one platform as ``mia``, link
``mia`` at another, and the brand's view merges what both platforms know of her. Each
platform has its own user ids and its own observations (interest tags differ, so the
brand sees them united, with each platform's share).

Every category here is a leaf of the alliance data standard within the necessity of
``marketing.brand_view`` (``tests/examples/test_cast.py`` checks them against the
standard's JSON Schema), so a person's consent to the brand's view lets the gateway keep
all of them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

PASSWORD = "accord-demo"  # noqa: S105 - every demo user's, printed on the login pages

# One person, several platforms: what does not depend on the platform.
_PEOPLE: dict[str, tuple[str, dict[str, Any]]] = {
    "mia": (
        "Mia Chen",
        {
            "user.demographic.age_band": "25-34",
            "user.demographic.generation": "millennial",
            "user.demographic.city_tier": "tier_1",
            "user.demographic.region": "east",
        },
    ),
    "leo": (
        "Leo Wang",
        {
            "user.demographic.age_band": "18-24",
            "user.demographic.generation": "gen_z",
            "user.demographic.city_tier": "new_tier_1",
            "user.demographic.region": "southwest",
        },
    ),
    "ava": (
        "Ava Li",
        {
            "user.demographic.age_band": "35-44",
            "user.demographic.generation": "millennial",
            "user.demographic.city_tier": "tier_2",
            "user.demographic.region": "south",
        },
    ),
    "kai": (
        "Kai Zhang",
        {
            "user.demographic.age_band": "45-54",
            "user.demographic.generation": "gen_x",
            "user.demographic.city_tier": "tier_3",
            "user.demographic.region": "central",
        },
    ),
    "zoe": (
        "Zoe Huang",
        {
            "user.demographic.age_band": "18-24",
            "user.demographic.generation": "gen_z",
            "user.demographic.city_tier": "tier_1",
            "user.demographic.region": "north",
        },
    ),
}


@dataclass(frozen=True)
class DemoUser:
    username: str  # what the person types on the platform's login page
    account_id: str  # the platform's own user id: the platform_user_id the gateway knows
    display_name: str
    attributes: Mapping[str, Any]  # leaf category -> value, as this platform observed it


@dataclass(frozen=True)
class Look:
    accent: str  # a CSS colour
    tagline: str


@dataclass(frozen=True)
class PlatformCast:
    slug: str
    look: Look
    users: tuple[DemoUser, ...] = field(default=())

    def user(self, username: str) -> DemoUser | None:
        return next((u for u in self.users if u.username == username), None)

    def by_account(self, account_id: str) -> DemoUser | None:
        return next((u for u in self.users if u.account_id == account_id), None)


def _user(prefix: str, number: int, username: str, own: dict[str, Any]) -> DemoUser:
    name, shared = _PEOPLE[username]
    return DemoUser(username, f"{prefix}-{number}", name, {**shared, **own})


PLATFORMS: dict[str, PlatformCast] = {
    "social_shop": PlatformCast(
        "social_shop",
        Look("#c2185b", "Shop what your friends love."),
        (
            _user(
                "lumen",
                1001,
                "mia",
                {
                    "user.interest.beauty": ["beauty.skincare", "beauty.lip_makeup"],
                    "user.interest.fashion": ["fashion.dresses", "fashion.bags"],
                    "user.transaction.order_value_band": "100-300",
                    "user.transaction.category_share.beauty": 0.6,
                    "user.transaction.category_share.fashion": 0.4,
                    "user.interaction.deep.group_buy.count_30d": 3,
                },
            ),
            _user(
                "lumen",
                1002,
                "leo",
                {
                    "user.interest.digital": ["digital.headphones", "digital.mechanical_keyboards"],
                    "user.interest.streetwear": ["streetwear.sneakers"],
                    "user.transaction.order_value_band": "300-1000",
                    "user.transaction.category_share.digital": 0.7,
                },
            ),
            _user(
                "lumen",
                1003,
                "ava",
                {
                    "user.interest.mother_baby": ["mother_baby.baby_food"],
                    "user.interest.beauty": ["beauty.sunscreen"],
                    "user.transaction.order_value_band": "50-100",
                    "user.transaction.category_share.mother_baby": 0.8,
                },
            ),
            _user(
                "lumen",
                1004,
                "kai",
                {
                    "user.interest.home": ["home.storage_organization"],
                    "user.transaction.order_value_band": "100-300",
                },
            ),
        ),
    ),
    "video_mall": PlatformCast(
        "video_mall",
        Look("#1565c0", "Short videos, live rooms, one-tap checkout."),
        (
            _user(
                "pulse",
                2001,
                "mia",
                {
                    "user.interest.beauty": ["beauty.skincare", "beauty.fragrance"],
                    "user.interest.travel": ["travel.weekend_getaways"],
                    "user.interaction.deep.live_qa.count_30d": 4,
                    "user.interaction.deep.group_buy.count_30d": 1,
                    "user.transaction.order_value_band": "100-300",
                },
            ),
            _user(
                "pulse",
                2002,
                "leo",
                {
                    "user.interest.games_anime": ["games_anime.mobile_games"],
                    "user.interaction.deep.live_qa.count_30d": 9,
                },
            ),
            _user(
                "pulse",
                2003,
                "ava",
                {
                    "user.interest.food_farm": ["food_farm.fresh_fruit", "food_farm.tea"],
                    "user.interaction.deep.group_buy.count_30d": 6,
                },
            ),
            _user(
                "pulse",
                2004,
                "zoe",
                {
                    "user.interest.beauty": ["beauty.eye_makeup", "beauty.nail_art"],
                    "user.interaction.deep.live_qa.count_30d": 2,
                },
            ),
        ),
    ),
    "notes": PlatformCast(
        "notes",
        Look("#2e7d32", "Notes, reviews and guides from people like you."),
        (
            _user(
                "ink",
                3001,
                "mia",
                {
                    "user.interest.beauty": ["beauty.ingredient_skincare", "beauty.skincare"],
                    "user.content_quality.overall": 82,
                    "user.content_quality.originality": 77,
                    "user.interaction.deep.trial_review.count_30d": 2,
                    "user.interaction.deep.community_post.count_30d": 5,
                },
            ),
            _user(
                "ink",
                3002,
                "ava",
                {
                    "user.interest.travel": ["travel.family_travel", "travel.theme_parks"],
                    "user.content_quality.overall": 64,
                    "user.interaction.deep.community_post.count_30d": 2,
                },
            ),
            _user(
                "ink",
                3003,
                "kai",
                {
                    "user.interest.outdoor": ["outdoor.camping"],
                    "user.content_quality.overall": 71,
                },
            ),
            _user(
                "ink",
                3004,
                "zoe",
                {
                    "user.interest.beauty": ["beauty.makeup_tutorials"],
                    "user.content_quality.overall": 90,
                    "user.interaction.deep.co_creation.count_30d": 1,
                },
            ),
        ),
    ),
}

BRAND_ACCENT = "#6a1b9a"
BRAND_TAGLINE = "Skincare made with you: sign in with Accord, share only what you choose."
