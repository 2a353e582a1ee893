"""The decision function: the legal rules, one named test each, and its algebra."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given as given_
from hypothesis import settings
from hypothesis import strategies as st

from consent.policy import Decision, Facts, Question, Reason, decide
from consent.records import EventType, History
from consent.taxonomy import DataStandard, RecipientKind
from tests.consent.builders import (
    BRAND_A,
    BRAND_B,
    NOTICE,
    PLATFORM,
    T0,
    VIEW,
    granted,
    record,
    then,
)

LATER = T0 + timedelta(days=10)


def ask(
    histories: list[History],
    standard: DataStandard,
    *,
    recipient: str = BRAND_A.id,
    kind: RecipientKind = RecipientKind.brand,
    purpose: str = "marketing.brand_view",
    categories: frozenset[str] = VIEW,
    at: object = LATER,
    notices: dict[str, int] | None = None,
    minor: bool = False,
) -> Decision:
    question = Question("person-1", recipient, kind, purpose, categories, at)  # type: ignore[arg-type]
    return decide(question, histories, Facts(standard, notices or {}, minor))


def test_a_grant_allows_exactly_what_it_names(standard: DataStandard) -> None:
    history = granted()
    decision = ask([history], standard)
    assert decision.allowed
    assert decision.granted_by == dict.fromkeys(VIEW, history.record.record_id)
    assert not ask([history], standard, categories=frozenset({"user.demographic.region"})).allowed


def test_a_grant_to_brand_a_does_not_allow_brand_b(standard: DataStandard) -> None:
    decision = ask([granted()], standard, recipient=BRAND_B.id)
    assert not decision.allowed
    assert decision.reasons == (Reason.no_consent,)


def test_a_bundled_consent_does_not_allow_third_party_sharing(standard: DataStandard) -> None:
    bundled = granted(record(separate=False))  # e.g. a checkbox inside the terms of service
    decision = ask([bundled], standard)
    assert not decision.allowed
    assert decision.reasons == (Reason.not_separate,)


def test_a_sensitive_category_without_its_own_explicit_event_is_denied(
    standard: DataStandard,
) -> None:
    latitude = "user.location.precise.latitude"
    # Recorded inside a non-sensitive consent (e.g. before the category was marked sensitive).
    mixed = granted(
        record(
            recipient=PLATFORM,
            purpose="personalize.nearby_offers",
            categories=frozenset({latitude}),
            sensitive=False,
        )
    )
    decision = ask(
        [mixed],
        standard,
        recipient=PLATFORM.id,
        kind=RecipientKind.platform,
        purpose="personalize.nearby_offers",
        categories=frozenset({latitude}),
    )
    assert not decision.allowed
    assert decision.denied == {latitude: Reason.sensitive_not_separate}
    own = granted(
        record(
            recipient=PLATFORM,
            purpose="personalize.nearby_offers",
            categories=frozenset({latitude}),
            sensitive=True,
        )
    )
    assert ask(
        [mixed, own],
        standard,
        recipient=PLATFORM.id,
        kind=RecipientKind.platform,
        purpose="personalize.nearby_offers",
        categories=frozenset({latitude}),
    ).allowed


def test_a_minor_without_a_guardian_reference_is_denied(standard: DataStandard) -> None:
    assert ask([granted()], standard).allowed
    decision = ask([granted()], standard, minor=True)
    assert not decision.allowed
    assert decision.reasons == (Reason.guardian_required,)
    with_guardian = granted(record(guardian_ref="guardian-consent-17"))
    assert ask([with_guardian], standard, minor=True).allowed


def test_a_notice_version_bump_invalidates_dependent_consents(standard: DataStandard) -> None:
    history = granted()
    assert ask([history], standard, notices={NOTICE.id: 1}).allowed
    decision = ask([history], standard, notices={NOTICE.id: 2})
    assert not decision.allowed
    assert decision.reasons == (Reason.notice_outdated,)
    # Records resting on another notice are untouched.
    assert ask([history], standard, notices={"terms": 7}).allowed


def test_withdrawal_denies_the_very_next_decision_while_earlier_evidence_remains(
    standard: DataStandard,
) -> None:
    history = granted()
    withdrawn = then(history, EventType.withdrawn, LATER)
    assert not ask([withdrawn], standard, at=LATER).allowed
    assert ask([withdrawn], standard, at=LATER).reasons == (Reason.withdrawn,)
    # The grant is still evidence: asked about the past, it allowed.
    assert ask([withdrawn], standard, at=LATER - timedelta(microseconds=1)).allowed


def test_asking_for_a_category_outside_the_necessity_is_refused_with_a_clear_reason(
    standard: DataStandard,
) -> None:
    asked = VIEW | {"user.location.precise.latitude"}
    decision = ask([granted()], standard, categories=asked)
    assert not decision.allowed
    assert decision.denied == {"user.location.precise.latitude": Reason.not_necessary}
    assert decision.explain() == [
        "user.location.precise.latitude: not necessary for the purpose (PIPL Art. 6)"
    ]


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        pytest.param({"purpose": "marketing.all"}, Reason.unknown_purpose, id="purpose"),
        pytest.param(
            {"kind": RecipientKind.platform, "recipient": PLATFORM.id},
            Reason.recipient_not_allowed,
            id="recipient-kind",
        ),
        pytest.param(
            {"categories": frozenset({"user.shoe_size"})}, Reason.unknown_category, id="category"
        ),
        pytest.param({"at": T0 - timedelta(days=1)}, Reason.not_yet_valid, id="before-given"),
        pytest.param({"at": T0 + timedelta(days=400)}, Reason.expired, id="expired"),
    ],
)
def test_denials_name_their_reason(
    standard: DataStandard, kwargs: dict[str, object], reason: Reason
) -> None:
    decision = ask([granted()], standard, **kwargs)  # type: ignore[arg-type]
    assert not decision.allowed
    assert reason in decision.reasons


def test_parents_are_expanded_and_each_leaf_must_be_covered(standard: DataStandard) -> None:
    live_qa = standard.leaves_under("user.interaction.deep.live_qa")
    history = granted(record(categories=frozenset(live_qa)))
    assert ask([history], standard, categories=frozenset({"user.interaction.deep.live_qa"})).allowed
    partial = granted(record(categories=frozenset(sorted(live_qa)[:2])))
    decision = ask([partial], standard, categories=frozenset({"user.interaction.deep.live_qa"}))
    assert not decision.allowed
    assert set(decision.denied) == set(sorted(live_qa)[2:])


def test_revoked_and_invalidated_records_deny(standard: DataStandard) -> None:
    for kind, reason in (
        (EventType.revoked, Reason.revoked),
        (EventType.invalidated, Reason.invalidated),
    ):
        history = then(granted(), kind, T0 + timedelta(days=1))
        assert ask([history], standard).reasons == (reason,)


def test_another_persons_grant_never_counts(standard: DataStandard) -> None:
    other = granted(record(person_id="person-2"))
    assert ask([other], standard).reasons == (Reason.no_consent,)


# --- the algebra, as properties -------------------------------------------------------

OFFSETS = st.integers(min_value=0, max_value=364 * 24 * 3600)
CATEGORY_SETS = st.sets(st.sampled_from(sorted(VIEW)), min_size=1)


@settings(max_examples=200, deadline=None)
@given_(
    granted_at=OFFSETS, gap=st.integers(1, 10**7), after=st.integers(0, 10**7), cats=CATEGORY_SETS
)
def test_withdraw_after_grant_always_denies(
    standard: DataStandard, granted_at: int, gap: int, after: int, cats: set[str]
) -> None:
    start = T0 + timedelta(seconds=granted_at)
    history = granted(record(valid_from=start, valid_until=start + timedelta(days=365)), at=start)
    withdrawn_at = start + timedelta(seconds=gap)
    history = then(history, EventType.withdrawn, withdrawn_at)
    decision = ask(
        [history], standard, categories=frozenset(cats), at=withdrawn_at + timedelta(seconds=after)
    )
    assert not decision.allowed


@settings(max_examples=200, deadline=None)
@given_(
    grantee=st.sampled_from([BRAND_A, BRAND_B]),
    asker=st.text(alphabet="abcdefgh-", min_size=1, max_size=12),
    cats=CATEGORY_SETS,
    at=OFFSETS,
)
def test_a_grant_to_one_recipient_never_allows_another(
    standard: DataStandard, grantee: object, asker: str, cats: set[str], at: int
) -> None:
    history = granted(record(recipient=grantee))
    decision = ask(
        [history],
        standard,
        recipient=asker,
        categories=frozenset(cats),
        at=T0 + timedelta(seconds=at),
    )
    assert decision.allowed == (asker == grantee.id)  # type: ignore[attr-defined]


@settings(max_examples=200, deadline=None)
@given_(
    before=st.integers(1, 10**8),
    after=st.integers(0, 10**8),
    cats=CATEGORY_SETS,
    outside=st.booleans(),
)
def test_outside_the_validity_window_always_denies(
    standard: DataStandard, before: int, after: int, cats: set[str], outside: bool
) -> None:
    history = granted()
    rec = history.record
    at = (
        rec.valid_from - timedelta(seconds=before)
        if outside
        else rec.valid_until + timedelta(seconds=after)
    )
    assert not ask([history], standard, categories=frozenset(cats), at=at).allowed
