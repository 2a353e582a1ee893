"""Consent records: validation against the law and the standard, and the lifecycle."""

from __future__ import annotations

from dataclasses import FrozenInstanceError
from datetime import timedelta

import pytest

from consent.errors import (
    InvalidTransition,
    InvalidValidity,
    MissingRecipient,
    NotNecessary,
    RecipientNotAllowed,
    SensitiveConsentRequired,
    SeparateConsentRequired,
    UnknownCategory,
    UnknownPurpose,
)
from consent.records import (
    TRANSITIONS,
    Actor,
    ConsentState,
    EventType,
    History,
    Recipient,
    check_scope,
    validate,
)
from consent.taxonomy import DataStandard, RecipientKind
from tests.consent.builders import PLATFORM, T0, event, granted, record, then


def test_a_valid_record_passes(standard: DataStandard) -> None:
    validate(record(), standard)


def test_a_record_without_a_recipient_is_refused(standard: DataStandard) -> None:
    with pytest.raises(
        MissingRecipient, match=r"recipient with name and contact \(PIPL Art\. 23\)"
    ):
        validate(record(recipient=None), standard)
    nameless = Recipient("brand-a", RecipientKind.brand, " ", "dpo@aurora.example")
    with pytest.raises(MissingRecipient):
        validate(record(recipient=nameless), standard)
    no_contact = Recipient("brand-a", RecipientKind.brand, "Aurora", "")
    with pytest.raises(MissingRecipient):
        validate(record(recipient=no_contact), standard)


def test_a_category_outside_the_purposes_necessity_is_refused_with_a_clear_error(
    standard: DataStandard,
) -> None:
    with pytest.raises(NotNecessary) as caught:
        check_scope(
            standard,
            "marketing.brand_view",
            RecipientKind.brand,
            ["user.interest.beauty", "user.location.precise.latitude"],
        )
    assert str(caught.value) == (
        "not necessary for 'marketing.brand_view' (PIPL Art. 6): user.location.precise.latitude"
    )
    # A parent that reaches outside the necessity is refused too (shallow interactions).
    with pytest.raises(NotNecessary, match=r"user\.interaction\.shallow"):
        check_scope(standard, "marketing.brand_view", RecipientKind.brand, ["user.interaction"])


def test_parents_expand_to_their_leaves(standard: DataStandard) -> None:
    purpose, leaves = check_scope(
        standard, "marketing.brand_view", RecipientKind.brand, ["user.interaction.deep.live_qa"]
    )
    assert purpose.key == "marketing.brand_view"
    assert leaves == standard.leaves_under("user.interaction.deep.live_qa")
    assert len(leaves) == 4


@pytest.mark.parametrize(
    ("overrides", "error", "message"),
    [
        pytest.param({"purpose": "marketing.all"}, UnknownPurpose, "unknown purpose", id="purpose"),
        pytest.param(
            {"categories": frozenset({"user.shoe_size"})},
            UnknownCategory,
            "unknown category 'user.shoe_size'",
            id="category",
        ),
        pytest.param(
            {"categories": frozenset({"user.interest"})},
            UnknownCategory,
            "leaf categories only",
            id="parent-in-record",
        ),
        pytest.param(
            {"recipient": PLATFORM},
            RecipientNotAllowed,
            "not open to a platform",
            id="recipient-kind",
        ),
        pytest.param(
            {"separate": False},
            SeparateConsentRequired,
            "needs a separate consent, not one bundled into terms",
            id="bundled",
        ),
        pytest.param(
            {"consent_type": "implied"}, SeparateConsentRequired, "explicit", id="implied"
        ),
        pytest.param({"valid_until": T0}, InvalidValidity, "after valid_from", id="empty-window"),
        pytest.param(
            {"valid_until": T0 + timedelta(days=366)},
            InvalidValidity,
            "at most 365 days",
            id="too-long",
        ),
    ],
)
def test_records_the_standard_does_not_allow_are_refused(
    standard: DataStandard, overrides: dict[str, object], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        validate(record(**overrides), standard)


def test_sensitive_categories_need_a_consent_of_their_own(standard: DataStandard) -> None:
    location = frozenset(standard.leaves_under("user.location.precise"))
    nearby = {
        "purpose": "personalize.nearby_offers",
        "recipient": PLATFORM,
        "valid_until": T0 + timedelta(days=90),
    }
    validate(record(categories=location, sensitive=True, **nearby), standard)
    with pytest.raises(SensitiveConsentRequired, match="the sensitive flag must match"):
        validate(record(categories=location, sensitive=False, **nearby), standard)
    with pytest.raises(SeparateConsentRequired):
        validate(record(categories=location, sensitive=True, separate=False, **nearby), standard)


def test_the_lifecycle_table_is_closed() -> None:
    """Every state has an entry; final states accept nothing."""
    assert set(TRANSITIONS) == {None, *ConsentState}
    for final in (ConsentState.withdrawn, ConsentState.revoked, ConsentState.invalidated):
        assert TRANSITIONS[final] == {}
    assert ConsentState.given.dpv == "dpv:ConsentGiven"
    assert ConsentState.withdrawn.dpv == "dpv:ConsentWithdrawn"


def test_state_is_derived_from_the_events() -> None:
    history = granted()
    assert history.state_at(T0 - timedelta(seconds=1)) is None
    assert history.state_at(T0) is ConsentState.given
    withdrawn = then(history, EventType.withdrawn, T0 + timedelta(days=3))
    assert withdrawn.state_at(T0 + timedelta(days=2)) is ConsentState.given  # evidence stays
    assert withdrawn.state_at(T0 + timedelta(days=3)) is ConsentState.withdrawn
    assert len(withdrawn.events) == 2


def test_validity_lapses_by_time_and_renewal_extends_it() -> None:
    history = granted()
    end = history.record.valid_until
    assert history.state_at(end - timedelta(seconds=1)) is ConsentState.given
    assert history.state_at(end) is ConsentState.expired
    renewed = then(
        history, EventType.renewed, end + timedelta(days=1), valid_until=end + timedelta(days=90)
    )
    assert renewed.state_at(end + timedelta(days=2)) is ConsentState.given
    assert renewed.state_at(end + timedelta(days=91)) is ConsentState.expired


@pytest.mark.parametrize(
    ("steps", "next_kind", "message"),
    [
        pytest.param([EventType.withdrawn], EventType.withdrawn, "withdrawn consent", id="twice"),
        pytest.param([EventType.withdrawn], EventType.renewed, "withdrawn consent", id="renew"),
        pytest.param([EventType.revoked], EventType.given, "revoked consent", id="regive"),
        pytest.param([], EventType.given, "given consent cannot be given", id="given-twice"),
    ],
)
def test_events_out_of_lifecycle_are_refused(
    steps: list[EventType], next_kind: EventType, message: str
) -> None:
    history = granted()
    for index, kind in enumerate(steps, start=1):
        history = then(history, kind, T0 + timedelta(hours=index))
    with pytest.raises(InvalidTransition, match=message):
        then(history, next_kind, T0 + timedelta(days=1), valid_until=T0 + timedelta(days=9))


def test_events_keep_sequence_time_and_actor_rules() -> None:
    history = granted()
    rec = history.record
    with pytest.raises(InvalidTransition, match="expected event 1"):
        history.append(event(rec, 5, EventType.withdrawn, T0 + timedelta(hours=1)))
    with pytest.raises(InvalidTransition, match="time order"):
        history.append(event(rec, 1, EventType.withdrawn, T0 - timedelta(hours=1)))
    with pytest.raises(InvalidTransition, match="cannot append 'revoked'"):
        history.append(event(rec, 1, EventType.revoked, T0, actor=Actor.person))
    with pytest.raises(InvalidTransition, match="another record"):
        history.append(event(record(), 1, EventType.withdrawn, T0))
    with pytest.raises(InvalidTransition, match="new validity in the future"):
        then(history, EventType.renewed, T0 + timedelta(days=1))


def test_histories_are_immutable() -> None:
    history = granted()
    longer = then(history, EventType.withdrawn, T0 + timedelta(days=1))
    assert len(history.events) == 1 and len(longer.events) == 2
    assert longer.record is history.record
    with pytest.raises(FrozenInstanceError):
        history.events = ()  # type: ignore[misc]
    assert History(history.record).events == ()
