"""Accord's token endpoint side by side with node-oidc-provider 9.x: target Accord at
least 1.0x the peer's throughput, and a p99 latency no worse, for both operations.

Operations, each ``POST`` authenticated with ``client_secret_basic``:

- client_credentials issuance (``/token``, ``scope=member_api``): an RFC 9068 access
  token signed ES256, valid 15 minutes;
- introspection (``/introspect``, RFC 7662) of a client_credentials token by the client
  it was issued to, answering ``{"active": true, ...}``. The peer refuses to introspect
  its JWTs (a resource server verifies those itself), so it introspects its opaque
  client_credentials token, a lookup in memory. Accord introspects its JWT: verified
  once, then answered from what the worker remembers (docs/oidc.md, "What a worker
  remembers"), as for a resource server that introspects one bearer over and over.

Method (see :mod:`bench.oidc.servers` for the two servers): RUNS rounds; in each, each
server is started alone on 127.0.0.1, checked (the token's header says ES256 and
``at+jwt``, introspection says active), then for each operation ``hey`` runs WARMUP
seconds of warm-up and SECONDS measured, with CONCURRENCY keep-alive connections, on the
same two cores as the server. Every answer must be 200. We report requests per second
and p99 per round, their medians, and the Accord / peer ratios of the medians.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import httpx
import jwt

from bench.measure import Targets
from bench.oidc import load
from bench.oidc.servers import Accord, Endpoint, Peer, database, versions

RUNS = int(os.environ.get("ACCORD_BENCH_RUNS", "3"))
SECONDS = float(os.environ.get("ACCORD_BENCH_SECONDS", "10"))
WARMUP = float(os.environ.get("ACCORD_BENCH_WARMUP", "3"))
CONCURRENCY = int(os.environ.get("ACCORD_BENCH_CONCURRENCY", "32"))
# Two worker processes (accord serve --workers) for two cores.
WORKERS = int(os.environ.get("ACCORD_BENCH_WORKERS", "2"))
QUIET_WAIT = 120  # seconds to wait for other work on the machine to end
ACCORD, PEER = "Accord", "node-oidc-provider"
OPERATIONS: dict[str, Callable[[Endpoint], load.Post]] = {
    "client_credentials issuance": Endpoint.issuance,
    "introspection": Endpoint.introspection,
}


def _check(name: str, endpoint: Endpoint) -> None:
    """One of each request before the load: the answers hey cannot see must be right."""
    issued = httpx.post(
        f"{endpoint.url}/token",
        data={"grant_type": "client_credentials", "scope": "member_api"},
        auth=(endpoint.client_id, endpoint.secret),
        timeout=10,
    ).json()
    header = jwt.get_unverified_header(issued["access_token"])
    if (header.get("alg"), header.get("typ")) != ("ES256", "at+jwt"):
        raise SystemExit(f"{name} issued a token with header {header}, not ES256 at+jwt")
    answer = httpx.post(
        f"{endpoint.url}/introspect",
        data={"token": endpoint.token},
        auth=(endpoint.client_id, endpoint.secret),
        timeout=10,
    ).json()
    if answer.get("active") is not True or answer.get("client_id") != endpoint.client_id:
        raise SystemExit(f"{name} introspected its token as {answer}")


def _measure(name: str, endpoint: Endpoint) -> dict[str, load.Load]:
    measured = {}
    for operation, request in OPERATIONS.items():
        post = request(endpoint)
        try:
            load.run(post, seconds=WARMUP, concurrency=CONCURRENCY)
            measured[operation] = load.run(post, seconds=SECONDS, concurrency=CONCURRENCY)
        except load.LoadFailed as failed:
            raise SystemExit(f"{name}, {operation}: {failed}") from None
        got = measured[operation]
        print(
            f"  {name}, {operation}: {got.per_second:,.0f} req/s, p99 {got.p99_ms:.1f} ms",
            file=sys.stderr,
            flush=True,
        )
    return measured


def _quiet() -> None:
    idle = load.wait_for_quiet(QUIET_WAIT)
    if idle is not None and idle < load.QUIET:
        print(
            f"  warning: the CPUs are only {idle:.0%} idle before this server starts: "
            "another process is busy, and the figures will be lower than they should",
            file=sys.stderr,
            flush=True,
        )


def _runs(values: list[float], digits: int) -> str:
    return " / ".join(f"{v:,.{digits}f}" for v in values)


def main(targets: Targets | None = None) -> None:
    checks = targets if targets is not None else Targets()
    load.require()
    results: defaultdict[tuple[str, str], list[load.Load]] = defaultdict(list)
    with tempfile.TemporaryDirectory() as tmp, database(Path(tmp)) as (url, backend):
        folder = Path(tmp)
        peer = Peer(folder)
        servers: dict[str, Accord | Peer] = {ACCORD: Accord(folder, url, WORKERS), PEER: peer}
        for n in range(RUNS):
            print(f"round {n + 1} of {RUNS}", file=sys.stderr, flush=True)
            for name, server in servers.items():  # each alone on the machine
                _quiet()
                with server.serving() as endpoint:
                    _check(name, endpoint)
                    for operation, got in _measure(name, endpoint).items():
                        results[operation, name].append(got)
        installed = versions(peer.node)
    print(
        f"\ntoken endpoint vs node-oidc-provider ({RUNS} runs of {SECONDS:g} s, "
        f"{CONCURRENCY} connections; Accord: accord serve --workers {WORKERS}, {backend}; "
        f"peer: {installed}, one process, in memory)"
    )
    print("| operation | server | req/s per run | median | p99 ms per run | median |")
    print("| --- | --- | --- | --- | --- | --- |")
    for operation in OPERATIONS:
        medians = {}
        for name in (ACCORD, PEER):
            loads = results[operation, name]
            rates, p99s = [x.per_second for x in loads], [x.p99_ms for x in loads]
            medians[name] = statistics.median(rates), statistics.median(p99s)
            print(
                f"| {operation} | {name} | {_runs(rates, 0)} | {medians[name][0]:,.0f} "
                f"| {_runs(p99s, 1)} | {medians[name][1]:.1f} |"
            )
        throughput = medians[ACCORD][0] / medians[PEER][0]
        latency = medians[ACCORD][1] / medians[PEER][1]
        print(f"| {operation} | Accord / peer | | **{throughput:.2f}×** | | **{latency:.2f}×** |")
        checks.at_least(f"{operation} throughput vs the peer", throughput, 1.0, "×")
        checks.at_most(f"{operation} p99 vs the peer", latency, 1.0, "×")
    if targets is None:
        checks.finish()


if __name__ == "__main__":
    main()
