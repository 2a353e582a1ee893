"""policy.decide() in-process: target p99 <= 200 µs.

Method: a person with 8 consent records (4 brands, 2 purposes, one withdrawn, one
renewed); questions of 1, 5 and all 68 categories of marketing.brand_view, the largest
naming parents that expand to many leaves; 20,000 timed calls each after warm-up.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from bench.measure import HEADER, Targets, percentile, row, sample_us
from consent.policy import Facts, Question, decide
from consent.records import (
    Actor,
    ConsentEvent,
    ConsentRecord,
    EventType,
    History,
    NoticeRef,
    Recipient,
)
from consent.taxonomy import LawfulBasis, RecipientKind, load_standard

P99_US = 200.0  # the target, in-process
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _history(brand: str, purpose: str, categories: frozenset[str], *extra: EventType) -> History:
    record = ConsentRecord(
        record_id=str(uuid.uuid4()),
        receipt_id=str(uuid.uuid4()),
        person_id="p",
        recipient=Recipient(brand, RecipientKind.brand, brand, f"dpo@{brand}.example"),
        purpose=purpose,
        categories=categories,
        lawful_basis=LawfulBasis.consent,
        separate=True,
        sensitive=False,
        notice=NoticeRef("n", 1, "sha256:00", "zh-CN"),
        valid_from=T0,
        valid_until=T0 + timedelta(days=365),
        language="zh-CN",
        jurisdiction="CN",
        storage_location="CN",
        retention_days=90,
        withdrawal_method="https://accord.example/consents",
    )
    history = History(record)
    kinds = (EventType.given, *extra)
    for seq, kind in enumerate(kinds):
        history = history.append(
            ConsentEvent(
                str(uuid.uuid4()),
                record.record_id,
                seq,
                kind,
                T0 + timedelta(days=seq),
                Actor.person,
                "consent_center",
                valid_until=T0 + timedelta(days=400) if kind is EventType.renewed else None,
            )
        )
    return history


def main(targets: Targets | None = None) -> None:
    standard = load_standard()
    view = standard.purposes["marketing.brand_view"].necessity
    aggregate = standard.purposes["analytics.aggregate"].necessity
    histories = [
        _history(f"brand-{b}", purpose, cats)
        for b in range(4)
        for purpose, cats in (("marketing.brand_view", view), ("analytics.aggregate", aggregate))
    ]
    histories[2] = _history("brand-1", "marketing.brand_view", view, EventType.withdrawn)
    histories[4] = _history("brand-2", "marketing.brand_view", view, EventType.renewed)
    facts = Facts(standard, {"n": 1})
    at = T0 + timedelta(days=30)
    cases = {
        "1 category": frozenset({"user.demographic.city_tier"}),
        "5 categories": frozenset(sorted(view)[:5]),
        "3 parents (57 leaves)": frozenset(
            {"user.interest", "user.interaction.deep", "user.content_quality"}
        ),
        f"all {len(view)} leaves of the purpose": frozenset(view),
    }
    checks = targets if targets is not None else Targets()
    print("\n### policy.decide (in-process)\n")
    print(HEADER)
    for name, categories in cases.items():
        question = Question(
            "p", "brand-0", RecipientKind.brand, "marketing.brand_view", categories, at
        )
        if not decide(question, histories, facts).allowed:
            raise SystemExit(f"bench setup: {name} should be allowed")

        def call(q: Question = question) -> object:
            return decide(q, histories, facts)

        samples = sample_us(call, 20_000)
        print(row(name, samples))
        checks.at_most(f"decision p99, {name}", percentile(samples, 0.99), P99_US, "µs")
    if targets is None:
        checks.finish()


if __name__ == "__main__":
    main()
