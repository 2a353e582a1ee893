"""The gateway's live metrics: request latency, tokens, consent decisions, SET delivery
and ε spent, counted as things happen.

One :class:`Metrics` per process, built with the runtime and reached through it: no
process-wide registry. ``GET /metrics`` serves them with the KPI gauges
(:mod:`gateway.operator.metrics`).

Several worker processes (``accord serve --workers N``) count apart and a scrape reaches
one of them, so they count in prometheus-client's multiprocess mode: each writes its
samples to files in ``PROMETHEUS_MULTIPROC_DIR`` (a directory the supervisor makes for
the run and removes after it, :mod:`gateway.observability.multiprocess`) and a scrape
adds up every worker's files. prometheus-client decides the mode once, when it is first
imported, from that variable; :meth:`Metrics.for_process` follows its decision.

Labels stay few and bounded: a route template (never a path), an HTTP method and status,
a grant type, a policy reason, a population *kind*. Never a subject, a client or a brand:
the per-brand ε is a KPI gauge, counted from the ledger.
"""

from __future__ import annotations

import os
from collections import Counter as Tally
from collections.abc import Iterable, Iterator
from pathlib import Path

from prometheus_client import values
from prometheus_client.metrics import Counter, Histogram
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector, CollectorRegistry

from consent.policy import Decision, Reason

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# Seconds. The express lane answers in well under a millisecond; a slow view batch in
# seconds.
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
# Seconds from a SET's creation to its delivery: the next push run (ACCORD_EVENTS_INTERVAL),
# or after retries with backoff up to 10 minutes apart, or whenever a poller polls.
LAG_BUCKETS = (0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 6 * 3600, 86400)
GRANT_TYPES = (
    "authorization_code",
    "refresh_token",
    "client_credentials",
    "urn:ietf:params:oauth:grant-type:token-exchange",
)
DELIVERY_METHODS = ("push", "poll")
DELIVERY_OUTCOMES = ("delivered", "retried", "dead")
POPULATION_KINDS = ("brand", "training")
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
NO_REASON = "none"
MAX_REMEMBERED_SERIES = 10_000  # routes are templates: far more than there are


class Metrics:
    def __init__(self, multiprocess_dir: Path | None = None) -> None:
        self.multiprocess_dir = multiprocess_dir
        self.registry = CollectorRegistry(auto_describe=False)
        r = self.registry
        self.requests = Histogram(
            "accord_http_request_duration_seconds",
            "Time to answer an HTTP request, by method, route template and status code.",
            ["method", "route", "status"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.tokens = Counter(
            "accord_tokens_issued",
            "Token responses issued at the token endpoint, by grant type.",
            ["grant_type"],
            registry=r,
        )
        self.decisions = Counter(
            "accord_consent_decisions",
            "Consent decisions of the policy, by outcome (allowed; partial: some of the "
            "categories asked; denied) and the first reason a category was refused.",
            ["outcome", "reason"],
            registry=r,
        )
        self.deliveries = Counter(
            "accord_set_deliveries",
            "SET delivery attempts and their outcome (delivered, retried later, dead), by method.",
            ["method", "outcome"],
            registry=r,
        )
        self.delivery_lag = Histogram(
            "accord_set_delivery_lag_seconds",
            "Seconds from a SET's creation to its delivery (push: accepted; poll: acknowledged).",
            ["method"],
            buckets=LAG_BUCKETS,
            registry=r,
        )
        self.epsilon = Counter(
            "accord_privacy_epsilon_spent",
            "Privacy loss (ε) charged to the ledger, by population kind (brand, training).",
            ["population_kind"],
            registry=r,
        )
        # Each series' child, once: a label lookup takes microseconds a request.
        self._request_series: dict[tuple[str, str, int], Histogram] = {}
        self._zeros()

    def _zeros(self) -> None:
        """Every known series at 0 from the start, so a rate over it has a first point."""
        self._token_series = {g: self.tokens.labels(g) for g in GRANT_TYPES}
        self.decisions.labels("allowed", NO_REASON)
        for reason in Reason:
            self.decisions.labels("partial", reason.value)
            self.decisions.labels("denied", reason.value)
        for method in DELIVERY_METHODS:
            self.delivery_lag.labels(method)
            for outcome in DELIVERY_OUTCOMES:
                self.deliveries.labels(method, outcome)
        for kind in POPULATION_KINDS:
            self.epsilon.labels(kind)

    @classmethod
    def for_process(cls) -> Metrics:
        """In multiprocess mode when prometheus-client chose it (its values live in files)."""
        if getattr(values.ValueClass, "_multiprocess", False):
            return cls(Path(os.environ[MULTIPROC_ENV]))
        return cls()

    def collector(self) -> Collector:
        """What a scrape reads: this process's registry (without the ``_created``
        series, which the workers' files do not keep either), or every worker's files."""
        if self.multiprocess_dir is not None:
            return MultiProcessCollector(None, path=str(self.multiprocess_dir))  # type: ignore[no-untyped-call]
        return _Uncreated(self.registry)

    # --- what happened ------------------------------------------------------------------

    def request(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method, route, status)
        series = self._request_series.get(key)
        if series is None:
            labelled = method if method in METHODS else "other"
            series = self.requests.labels(labelled, route, str(status))
            if len(self._request_series) < MAX_REMEMBERED_SERIES:
                self._request_series[key] = series
        series.observe(seconds)

    def token_issued(self, grant_type: str) -> None:
        series = self._token_series.get(grant_type)
        (series if series is not None else self.tokens.labels(grant_type)).inc()

    def decided(self, decision: Decision, count: int = 1) -> None:
        self.decisions.labels(*outcome_of(decision)).inc(count)

    def decided_all(self, decisions: Iterable[Decision]) -> None:
        """Many decisions (a batch of views): one increment per outcome, not per person."""
        for labels, count in Tally(outcome_of(d) for d in decisions).items():
            self.decisions.labels(*labels).inc(count)

    def delivery(self, method: str, outcome: str, lag: float | None = None) -> None:
        self.deliveries.labels(method, outcome).inc()
        if lag is not None:
            self.delivery_lag.labels(method).observe(max(0.0, lag))

    def spent(self, population: str, epsilon: float) -> None:
        if epsilon > 0:
            self.epsilon.labels(population_kind(population)).inc(epsilon)


class _Uncreated(Collector):
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry

    def collect(self) -> Iterator[Metric]:
        for metric in self.registry.collect():
            metric.samples = [s for s in metric.samples if not s.name.endswith("_created")]
            yield metric


def outcome_of(decision: Decision) -> tuple[str, str]:
    """(outcome, reason). A view asked for every category its purpose may show is
    served with those granted: ``partial``, not ``denied``."""
    if decision.allowed:
        return ("allowed", NO_REASON)
    reason = decision.reasons[0].value if decision.reasons else NO_REASON
    return ("partial" if decision.granted_by else "denied", reason)


def population_kind(population: str) -> str:
    """``brand:<id>`` -> ``brand``; ``training:<purpose>`` -> ``training``; else ``other``."""
    kind = population.split(":", 1)[0]
    return kind if kind in POPULATION_KINDS else "other"
