"""The data standard: load time, and GET /v1/schema over a real socket (full vs 304).

Method: the standard is loaded 30 times in-process; then a gateway is started on
127.0.0.1 (SQLite in a temporary folder) and 300 sequential requests are timed for
each case with httpx over one keep-alive connection. Medians and p99 in ms.
"""

from __future__ import annotations

import secrets
import tempfile
from pathlib import Path

import httpx

from bench.measure import HEADER, row, sample_us
from consent.taxonomy import load_standard
from gateway import migrate
from gateway.app import create_app
from gateway.runtime import Runtime
from gateway.serving import in_thread
from gateway.settings import Environment, Settings


def main() -> None:
    rows = [
        row("load_standard() (YAML → validated standard)", sample_us(load_standard, 30, 3), "ms")
    ]
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

                rows.append(row(name, sample_us(fetch, 300), "ms"))
        runtime.close()
    print("\n### The data standard\n")
    print(HEADER)
    print("\n".join(rows))


if __name__ == "__main__":
    main()
