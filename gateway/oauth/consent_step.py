"""Consent at authorization: what a client's scope asks of the person, what is already
in force, and recording what the person grants on the consent screen.

Each purpose a scope names becomes one item: the recipient's purpose with its
categories and validity. ``openid`` (sign-in, ``identity.sso``) is required; every
other item is the person's choice, one by one. Whether an item is in force is the one
policy decision (``consent/policy.py``), never a lookup of our own.

What the person saw is the consent screen; its wording is the notice every consent
given here cites (``CONSENT_SCREEN_NOTICE``), published by the gateway itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from consent import policy
from consent.journal import Evidence
from consent.records import Actor
from consent.taxonomy import Purpose, RecipientKind
from gateway.consents.service import Ask, Consents, Outcome, Terms
from gateway.members.models import Member
from gateway.oauth import scopes

CONSENT_SCREEN_NOTICE = "accord-consent-screen"
CONSENT_SCREEN_TEXT = (
    "Accord consent screen. The recipient named on this screen asks to process the listed"
    " categories of your personal information for the stated purpose until the stated date."
    " You may grant or refuse each optional item; you can withdraw any consent at any time in"
    " the Accord consent center, as easily as you gave it.\n"
    "Accord 授权页。本页所列接收方请求为所述目的在所述期限内处理所列类别的个人信息。"
    "您可以逐项同意或拒绝可选项目，并可随时在联盟授权中心撤回任何同意，与给予同意一样方便。"
)
CONSENT_SCREEN_LANGUAGE = "zh-CN"


@dataclass(frozen=True)
class Item:
    """One purpose the client asks for, as the consent screen shows it."""

    scope: str  # the scope tokens that asked for it, joined
    purpose: Purpose
    categories: frozenset[str]
    required: bool
    in_force: bool


def items(
    scope: str,
    member: Member,
    declared: frozenset[str],
    consents: Consents,
    person_id: str,
    now: datetime,
) -> list[Item]:
    """What the scope asks for, purpose by purpose, and whether it is in force now."""
    standard = consents.rt.standard
    requested = scopes.parse(scope, declared, standard)
    tokens: dict[str, list[str]] = {}
    for token in scopes.split(scope):
        purpose = scopes.SSO_PURPOSE if token == scopes.OPENID else token.partition(":")[0]
        tokens.setdefault(purpose, []).append(token)
    found = []
    for key, categories in requested.purposes.items():
        question = policy.Question(
            person_id, member.id, RecipientKind(member.kind), key, categories, now
        )
        found.append(
            Item(
                scope=" ".join(tokens.get(key, [key])),
                purpose=standard.purposes[key],
                categories=categories,
                required=key == scopes.SSO_PURPOSE,
                in_force=consents.decide(question).allowed,
            )
        )
    return found


def ensure_notice(consents: Consents) -> int:
    """The consent screen's notice version, published the first time it is needed."""
    head = consents.notices.head(CONSENT_SCREEN_NOTICE)
    if head is not None:
        return head.version
    return consents.notices.publish(
        CONSENT_SCREEN_NOTICE, CONSENT_SCREEN_TEXT, CONSENT_SCREEN_LANGUAGE
    ).version


def record(
    chosen: list[Item], member: Member, consents: Consents, person_id: str, evidence: Evidence
) -> list[Outcome]:
    """Record the consents the person granted on the screen that are not in force yet."""
    version = ensure_notice(consents)
    asks = [
        Ask(
            person_id,
            member,
            Terms(item.purpose.key, item.categories, CONSENT_SCREEN_NOTICE, version),
            evidence,
        )
        for item in chosen
        if not item.in_force
    ]
    return consents.give_many(asks)


def screen_evidence(user_agent: str | None) -> Evidence:
    return Evidence(Actor.person, "consent_screen", user_agent=(user_agent or "")[:200] or None)
