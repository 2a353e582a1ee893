"""The data standard: load time, and GET /v1/schema over a real socket (full vs 304).

Method: the standard is loaded 30 times in-process; then a gateway is started on
127.0.0.1 (SQLite in a temporary folder) and 300 sequential requests are timed for
each case with httpx over one keep-alive connection. Medians and p95 in ms.
"""

from __future__ import annotations

import secrets
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from consent.taxonomy import load_standard
from gateway import migrate
from gateway.app import create_app
from gateway.runtime import Runtime
from gateway.serving import in_thread
from gateway.settings import Environment, Settings


def _timed(action: Callable[[], object], runs: int) -> list[float]:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def _row(name: str, samples: list[float]) -> str:
    p95 = statistics.quantiles(samples, n=20)[-1]
    return f"| {name} | {len(samples)} | {statistics.median(samples):.2f} | {p95:.2f} |"


def main() -> None:
    rows = [_row("load_standard() (YAML → validated standard)", _timed(load_standard, 30))]
    with tempfile.TemporaryDirectory() as folder:
        settings = Settings.model_validate(
            {
                "env": Environment.test,
                "database_url": f"sqlite:///{Path(folder)}/bench.db",
                "key_dir": Path(folder) / "keys",
                **{
                    name: secrets.token_urlsafe(32)
                    for name in ("secret_key", "pairwise_key", "hash_key", "operator_token")
                },
            }
        )
        runtime = Runtime.build(settings)
        migrate.upgrade(runtime.engine)
        with in_thread(create_app(settings, runtime=runtime)) as base, httpx.Client() as http:
            etag = http.get(f"{base}/v1/schema").headers["etag"]
            cases = {
                "GET /v1/schema, identity (183 KB)": {"Accept-Encoding": "identity"},
                "GET /v1/schema, gzip": {"Accept-Encoding": "gzip"},
                "GET /v1/schema, If-None-Match → 304": {"If-None-Match": etag},
                "GET /healthz": None,
            }
            for name, headers in cases.items():
                url = base + ("/healthz" if headers is None else "/v1/schema")

                def fetch(url: str = url, headers: dict[str, str] | None = headers) -> object:
                    return http.get(url, headers=headers)

                rows.append(_row(name, _timed(fetch, 300)))
        runtime.close()
    print("| case | runs | median ms | p95 ms |")
    print("| --- | --- | --- | --- |")
    print("\n".join(rows))
