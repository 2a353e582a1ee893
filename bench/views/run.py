"""Unified views and sandbox aggregates for a brand, on 1,000,000 persons: targets a
single view p99 <= 15 ms, a batch of 1,000 views <= 250 ms, a sandbox query <= 2 s.

Method: the data of :mod:`bench.views.generate` (generated once, then reused for the
same seed and sizes; ACCORD_BENCH_VIEWS_PERSONS for a smaller run) is served by
``accord serve --workers WORKERS`` on 127.0.0.1 with ``ACCORD_ENV=development`` (the
keys the pairwise subjects and the client secret were made with) and no background
jobs (the consent-log sequencer would otherwise start integrating the 5,000,000 queued
leaves while we measure). The client is the bench brand, authenticated with
``client_secret_basic``, sending sequential requests with httpx over one keep-alive
connection; subjects are drawn from the database with a fixed seed. A time runs from
sending the request to the last byte of the answer; checking the answer is not timed.

The database (about 28 GB) is larger than the machine's memory, as it would be in
production; a serving gateway keeps what it reads in memory. Before each phase, the
tables and indexes that phase reads are read into the operating system's page cache
with ``pg_prewarm`` (WARM lists them; PostgreSQL's own shared_buffers stay at the
server's setting, 128 MB by default), and the warm-up requests below run after that.

- single view: ``GET /v1/views/{sub}?purpose=marketing.brand_view`` of subjects whose
  consent is in force, 200 warm-up requests then SINGLE timed; p50, p90, p99 reported,
  target p99 <= 15 ms;
- batch: ``POST /v1/views/batch`` of 1,000 subjects, 900 with consent in force and 100
  without (other brands' subjects, withdrawn consents, unknown subjects, a third each),
  3 warm-up then BATCHES timed; target: the median and the p95 both <= 250 ms;
- sandbox: ``POST /v1/sandbox/queries``, three queries (a count by city tier and
  generation, a mean content quality by beauty interest, a count by city tier filtered
  on region), each ``fresh`` (not answered from an earlier release), 1 warm-up then
  QUERIES timed each; median and max reported, target max <= 2 s.

Every answer must be 200 with the shape of the contract (a view names its ``sub`` and
holds ``attributes``; a batch answers every subject in order, exactly the 900 with
consent available; a sandbox answer holds ``groups``): anything else stops the bench,
naming the request, the status and the body.
"""

from __future__ import annotations

import base64
import itertools
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import httpx
import psycopg

from bench.local import free_port, wait_ready
from bench.measure import Targets, percentile
from bench.views import generate, loading
from bench.views.generate import Loaded

SINGLE_P99_MS, BATCH_MS, SANDBOX_MS = 15.0, 250.0, 2_000.0  # the targets
SINGLE, SINGLE_WARMUP = 2_000, 200
BATCHES, BATCH_WARMUP, BATCH_SIZE, BATCH_WITHOUT = 100, 3, 1_000, 100  # p95: the 95th of 100
QUERIES, QUERY_WARMUP = 10, 1
T = TypeVar("T")
WORKERS = int(os.environ.get("ACCORD_BENCH_WORKERS", "2"))
PURPOSE = "marketing.brand_view"
START_SECONDS = 120
# What each phase reads (each table with its indexes), warmed before the phase.
WARM = {
    "views": (
        "member",
        "notice_version",
        "pairwise_subject",
        "person",
        "consent_record",
        "consent_event",
        "view_value",
    ),
    "sandbox": ("member", "notice_version", "person", "consent_record", "merged_attribute"),
}
SANDBOX: dict[str, dict[str, Any]] = {
    "count by city tier × generation": {
        "measure": "count",
        "group_by": ["user.demographic.city_tier", "user.demographic.generation"],
        "epsilon": 0.1,
        "fresh": True,
    },
    "mean content quality by beauty interest": {
        "measure": "mean",
        "category": "user.content_quality.overall",
        "group_by": ["user.interest.beauty"],
        "epsilon": 0.1,
        "fresh": True,
    },
    "count by city tier, region east or south": {
        "measure": "count",
        "group_by": ["user.demographic.city_tier"],
        "where": {"user.demographic.region": ["east", "south"]},
        "epsilon": 0.1,
        "fresh": True,
    },
}


class Failed(SystemExit):
    """An answer that breaks the contract: the bench stops and says which."""

    def __init__(self, what: str, answer: httpx.Response) -> None:
        super().__init__(f"{what}: HTTP {answer.status_code}: {answer.text[:500]}")


@contextmanager
def serving(database_url: str, workers: int) -> Iterator[str]:
    """``accord serve --workers`` on the bench database, until the block ends."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as folder:
        settings = {
            "ACCORD_ENV": "development",
            "ACCORD_DATABASE_URL": database_url,
            "ACCORD_ISSUER": url,
            "ACCORD_KEY_DIR": str(Path(folder) / "keys"),
            "ACCORD_EVENTS_INTERVAL": "0",
            "ACCORD_LOG_INTERVAL": "0",
            "ACCORD_LOG_LEVEL": "warning",
        }
        inherited = {k: v for k, v in os.environ.items() if not k.startswith("ACCORD_")}
        command = [
            sys.executable,
            "-c",
            "from gateway.cli import main; main()",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
        ]
        log = Path(folder) / "accord.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                command, env={**inherited, **settings}, stdout=out, stderr=out
            )
            try:
                wait_ready(process, f"{url}/readyz", log, START_SECONDS)
                yield url
            finally:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


class Subjects:
    """The bench brand's subjects, drawn from the database with a fixed seed."""

    def __init__(self, loaded: Loaded, rng: random.Random) -> None:
        self.rng = rng
        with psycopg.connect(loading.conninfo(loaded.database_url)) as connection:

            def subs(state: str) -> list[str]:
                rows = connection.execute(
                    "SELECT s.sub FROM consent_record r JOIN pairwise_subject s"
                    " ON s.person_id = r.person_id AND s.sector = %s"
                    " WHERE r.recipient_id = %s AND r.purpose = %s AND r.state = %s"
                    " AND r.ends_at > now() ORDER BY s.sub",
                    (loaded.sector, loaded.brand_id, PURPOSE, state),
                )
                return [str(sub) for (sub,) in rows]

            self.consenting = subs("given")
            self.withdrawn = subs("withdrawn")
            others = connection.execute(
                "SELECT s.sub FROM pairwise_subject s JOIN member m ON m.sector = s.sector"
                " WHERE m.kind = 'brand' AND m.id <> %s ORDER BY s.sub LIMIT 20000",
                (loaded.brand_id,),
            )
            self.others = [str(sub) for (sub,) in others]
        if not self.consenting:
            raise SystemExit("bench setup: no subject consents to the bench brand")

    def some(self, count: int) -> list[str]:
        return self.rng.sample(self.consenting, count)

    def unavailable(self, count: int) -> list[str]:
        """Subjects the brand gets nothing for: other brands', withdrawn, unknown."""
        third = count // 3
        unknown = [
            base64.urlsafe_b64encode(self.rng.randbytes(32)).rstrip(b"=").decode()
            for _ in range(count - 2 * third)
        ]
        return (
            self.rng.sample(self.others, third) + self.rng.sample(self.withdrawn, third) + unknown
        )

    def batch(self) -> tuple[list[str], int]:
        """1,000 subjects in random order, and how many of them have consent."""
        available = BATCH_SIZE - BATCH_WITHOUT
        chosen = self.some(available) + self.unavailable(BATCH_WITHOUT)
        self.rng.shuffle(chosen)
        return chosen, available


def warm(database_url: str, phase: str) -> float:
    """Read what ``phase`` reads into the page cache (pg_prewarm), then CHECKPOINT, so
    the phase does not share the disk with flushing what earlier work (the load, an
    earlier phase or run) left dirty; seconds taken. The phase's own writes (the access
    log's entries) stay in what is timed."""
    started = time.perf_counter()
    with psycopg.connect(loading.conninfo(database_url), autocommit=True) as connection:
        connection.execute("CREATE EXTENSION IF NOT EXISTS pg_prewarm")
        for table in WARM[phase]:
            indexes = connection.execute(
                "SELECT indexrelid::regclass::text FROM pg_index WHERE indrelid = %s::regclass",
                (table,),
            )
            for relation in [table, *(str(name) for (name,) in indexes)]:
                connection.execute("SELECT pg_prewarm(%s::regclass, 'read')", (relation,))
        connection.execute("CHECKPOINT")
    return time.perf_counter() - started


def _timed(
    send: Callable[[T], httpx.Response],
    check: Callable[[T, httpx.Response], None],
    asks: Iterator[T],
    runs: int,
    warmup: int,
) -> list[float]:
    """Milliseconds from sending each ask to its answer's last byte, after the warm-up;
    every answer is checked against its ask, after its time is taken."""
    for _ in range(warmup):
        ask = next(asks)
        check(ask, send(ask))
    samples = []
    for _ in range(runs):
        ask = next(asks)
        started = time.perf_counter_ns()
        answer = send(ask)  # httpx has read the whole body when this returns
        samples.append((time.perf_counter_ns() - started) / 1e6)
        check(ask, answer)
    return samples


def _row(name: str, ms: list[float]) -> str:
    figures = [statistics.median(ms), *(percentile(ms, q) for q in (0.9, 0.95, 0.99)), max(ms)]
    return f"| {name} | {len(ms)} | " + " | ".join(f"{f:.3g} ms" for f in figures) + " |"


def _sandbox(http: httpx.Client, checks: Targets) -> None:
    def ask(query: dict[str, Any]) -> httpx.Response:
        return http.post("/v1/sandbox/queries", json=query)

    for name, query in SANDBOX.items():

        def check(_: object, answer: httpx.Response, name: str = name) -> None:
            got = answer.json().get("groups") if answer.status_code == 200 else None
            if not isinstance(got, list):
                raise Failed(f"POST /v1/sandbox/queries ({name})", answer)

        times = _timed(ask, check, itertools.repeat(query), QUERIES, QUERY_WARMUP)
        print(_row(f"sandbox: {name}", times), flush=True)
        checks.at_most(f"sandbox {name}, max", max(times), SANDBOX_MS, "ms")


def main(targets: Targets | None = None) -> None:
    checks = targets if targets is not None else Targets()
    persons, seed, database = generate.configured()
    loaded = generate.ensure(persons, seed, database)
    rng = random.Random(11)  # noqa: S311 - picks subjects to ask for, not secrets
    subjects = Subjects(loaded, rng)
    singles = iter(subjects.some(SINGLE + SINGLE_WARMUP))
    batches = iter([subjects.batch() for _ in range(BATCHES + BATCH_WARMUP)])
    print(
        f"\n### Unified views and sandbox, {persons:,} persons "
        f"(accord serve --workers {WORKERS}, PostgreSQL)\n"
    )
    print("| case | runs | median | p90 | p95 | p99 | max |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    auth = (loaded.client_id, loaded.client_secret)
    warmed: list[str] = []
    with (
        serving(loaded.database_url, WORKERS) as base,
        httpx.Client(base_url=base, auth=auth, timeout=60) as http,
    ):
        warmed.append(f"views {warm(loaded.database_url, 'views'):.0f} s")
        attributes: list[int] = []

        def view(sub: str) -> httpx.Response:
            return http.get(f"/v1/views/{sub}", params={"purpose": PURPOSE})

        def check_view(sub: str, answer: httpx.Response) -> None:
            body = answer.json() if answer.status_code == 200 else {}
            if body.get("sub") != sub or not isinstance(body.get("attributes"), dict):
                raise Failed(f"GET /v1/views/{sub}", answer)
            attributes.append(len(body["attributes"]))

        single = _timed(view, check_view, singles, SINGLE, SINGLE_WARMUP)
        print(_row("single view (GET /v1/views/{sub})", single), flush=True)
        checks.at_most("single view p99", percentile(single, 0.99), SINGLE_P99_MS, "ms")

        def views(batch: tuple[list[str], int]) -> httpx.Response:
            body = {"purpose": PURPOSE, "subjects": batch[0]}
            return http.post("/v1/views/batch", json=body)

        def check_views(batch: tuple[list[str], int], answer: httpx.Response) -> None:
            subs, available = batch
            got = answer.json().get("views") if answer.status_code == 200 else None
            if (
                not isinstance(got, list)
                or [v.get("sub") for v in got] != subs
                or sum(v.get("available") is True for v in got) != available
            ):
                raise Failed("POST /v1/views/batch", answer)

        batch = _timed(views, check_views, batches, BATCHES, BATCH_WARMUP)
        print(_row(f"batch of {BATCH_SIZE:,} (POST /v1/views/batch)", batch), flush=True)
        checks.at_most("batch median", statistics.median(batch), BATCH_MS, "ms")
        checks.at_most("batch p95", percentile(batch, 0.95), BATCH_MS, "ms")

        warmed.append(f"sandbox {warm(loaded.database_url, 'sandbox'):.0f} s")
        _sandbox(http, checks)
    mean = statistics.mean(attributes)
    print(f"\nA single view held {mean:.1f} attributes on average (of {len(attributes)} views).")
    print(f"Warming the page cache (pg_prewarm) took: {', '.join(warmed)}.")
    if targets is None:
        checks.finish()


if __name__ == "__main__":
    main()
