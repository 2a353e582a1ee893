"""The KPIs as Prometheus gauges, counted at scrape time (text format 0.0.4).

A collector, not live metric objects: each scrape runs the one KPI computation
(:mod:`gateway.operator.kpis`) and builds fresh gauge families from it, in a registry
of its own (no process-wide registry, no globals). A rate whose denominator is zero has
no sample: "absent" rather than a made-up 0 or NaN. Names and labels: ``docs/kpis.md``.
The same scrape carries the live counters and histograms of
:mod:`gateway.observability.metrics` after them (``docs/observability.md``).
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from gateway.operator.figures import Snapshot
from gateway.operator.kpis import Kpis

CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
PREFIX = "accord_"


def _gauge(
    name: str, documentation: str, value: float | None = None, labels: list[str] | None = None
) -> GaugeMetricFamily:
    if labels is not None:
        return GaugeMetricFamily(PREFIX + name, documentation, labels=labels)
    family = GaugeMetricFamily(PREFIX + name, documentation)
    if value is not None:
        family.add_metric([], value)
    return family


def families(snap: Snapshot) -> Iterator[Metric]:
    """Every KPI of ``snap`` as gauge families."""
    unification, interop = snap.unification, snap.interoperability
    yield _gauge("persons", "Persons (unified identities) at the gateway.", unification.persons)
    yield _gauge(
        "persons_unified",
        "Persons with two or more linked platform accounts.",
        unification.unified,
    )
    yield _gauge(
        "identity_unification_ratio",
        "Persons with two or more linked platform accounts / persons.",
        unification.rate,
    )
    yield _gauge(
        "attribute_persons", "Persons with at least one pushed profile attribute.", interop.persons
    )
    yield _gauge(
        "attribute_persons_cross_platform",
        "Persons whose pushed attributes come from two or more platforms.",
        interop.cross_platform,
    )
    yield _gauge(
        "interoperability_ratio",
        "Persons with attributes from two or more platforms / persons with attributes.",
        interop.rate,
    )
    yield _gauge(
        "attribute_categories",
        "Data categories with at least one pushed attribute.",
        interop.categories,
    )
    yield _gauge(
        "attribute_categories_cross_platform",
        "Data categories pushed by two or more platforms.",
        interop.cross_platform_categories,
    )
    yield _gauge(
        "kpi_sample_ratio",
        "Share of persons the person-level KPIs counted (1: every person, exact).",
        snap.sample.fraction,
    )
    yield from _window(snap)
    yield from _budgets(snap)


def _window(snap: Snapshot) -> Iterator[Metric]:
    """The rate KPIs, over the window ending at the scrape."""
    yield _gauge(
        "kpi_window_seconds",
        "Length of the window the windowed KPIs count over.",
        snap.days * 86400,
    )
    auth = snap.authorisation
    asks = _gauge(
        "authorisation_asks",
        "Consents asked in the window, by where they were asked and what came of them.",
        labels=["source", "outcome"],
    )
    asks.add_metric(["consent_screen", "given"], auth.screen_given)
    asks.add_metric(["consent_screen", "refused"], auth.screen_refused)
    asks.add_metric(["consent_screen", "unanswered"], auth.screen_unanswered)
    asks.add_metric(["member", "given"], auth.member_recorded)
    yield asks
    yield _gauge(
        "authorisation_ratio", "Consents given / consents asked, in the window.", auth.rate
    )
    events = _gauge("consent_events", "Consent events in the window, by type.", labels=["type"])
    events.add_metric(["given"], snap.withdrawal.given)
    events.add_metric(["withdrawn"], snap.withdrawal.withdrawn)
    yield events
    yield _gauge(
        "withdrawal_ratio",
        "Withdrawals / consents given, in the window.",
        snap.withdrawal.rate,
    )
    rights = snap.rights
    completed = _gauge(
        "rights_requests_completed",
        "Data-subject requests completed in the window, by whether they met their due date.",
        labels=["deadline"],
    )
    completed.add_metric(["met"], rights.on_time)
    completed.add_metric(["missed"], rights.completed - rights.on_time)
    yield completed
    yield _gauge(
        "rights_on_time_ratio",
        "Requests completed by their due date / requests completed, in the window.",
        rights.rate,
    )
    yield _gauge(
        "rights_requests_open_overdue",
        "Data-subject requests still open after their due date.",
        rights.open_overdue,
    )


def _budgets(snap: Snapshot) -> Iterator[Metric]:
    spent = _gauge(
        "brand_epsilon_spent", "Privacy loss (ε) a brand spent this period.", labels=["brand"]
    )
    cap = _gauge("brand_epsilon_cap", "A brand's ε cap for the period.", labels=["brand"])
    remaining = _gauge(
        "brand_epsilon_remaining", "ε a brand has left this period.", labels=["brand"]
    )
    for budget in snap.budgets:
        spent.add_metric([budget.client_id], budget.spent)
        if budget.cap is not None:  # no cap, no release: nothing to show
            cap.add_metric([budget.client_id], budget.cap)
            remaining.add_metric([budget.client_id], budget.remaining or 0.0)
    yield from (spent, cap, remaining)


class KpiCollector(Collector):
    """Counts the KPIs when collected: once per scrape."""

    def __init__(self, kpis: Kpis, days: int) -> None:
        self.kpis = kpis
        self.days = days

    def collect(self) -> Iterator[Metric]:
        yield from families(self.kpis.snapshot(self.days))


def exposition(kpis: Kpis, days: int, live: Collector | None = None) -> bytes:
    """The scrape's body, in the Prometheus text format 0.0.4: the KPIs, then the live
    metrics (:mod:`gateway.observability.metrics`) when given."""
    registry = CollectorRegistry(auto_describe=False)  # registering does not collect
    registry.register(KpiCollector(kpis, days))
    if live is not None:
        registry.register(live)
    return generate_latest(registry)
