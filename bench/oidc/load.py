"""The load generator both servers face: Debian's ``hey``, one POST over and over.

``hey -z SECONDS -c CONCURRENCY`` keeps CONCURRENCY keep-alive connections busy for
SECONDS and prints its requests per second, a latency distribution and the status codes
it got. We read throughput and p99 from that, and refuse a run in which any answer was
not 200 or any request failed: a fast error is no figure.
"""

from __future__ import annotations

import base64
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

HEY = "hey"
FORM = "application/x-www-form-urlencoded"
REQUEST_TIMEOUT = 10  # seconds, per request: a stuck one counts as an error
QUIET = 0.9  # the idle share of the CPUs before a measurement


class LoadFailed(Exception):
    """The generator did not run, or some answers were not 200."""


@dataclass(frozen=True)
class Post:
    """One request, repeated: a form POST with HTTP Basic client authentication."""

    url: str
    form: str
    client_id: str
    secret: str

    def basic(self) -> str:
        pair = f"{self.client_id}:{self.secret}".encode()
        return "Basic " + base64.b64encode(pair).decode("ascii")


@dataclass(frozen=True)
class Load:
    """What one generator run measured."""

    requests: int
    per_second: float
    p99_ms: float


def require() -> None:
    if shutil.which(HEY) is None:
        raise SystemExit(
            "the load generator `hey` is missing: install it with "
            "`apt-get install -y hey` (Debian's package)"
        )


def run(post: Post, *, seconds: float, concurrency: int) -> Load:
    command = [
        HEY,
        "-z",
        f"{seconds:g}s",
        "-c",
        str(concurrency),
        "-t",
        str(REQUEST_TIMEOUT),
        "-m",
        "POST",
        "-T",
        FORM,
        "-H",
        f"Authorization: {post.basic()}",
        "-d",
        post.form,
        post.url,
    ]
    try:
        done = subprocess.run(  # the arguments hold a secret: never echo the command
            command, capture_output=True, text=True, timeout=seconds + 60, check=False
        )
    except subprocess.TimeoutExpired:
        raise LoadFailed(f"hey did not finish within {seconds + 60:g} s") from None
    if done.returncode != 0:
        raise LoadFailed(f"hey exited with {done.returncode}: {done.stderr.strip()[:300]}")
    return parse(done.stdout)


STATUS = re.compile(r"^\s*\[(\d{3})\]\s+(\d+) responses", re.MULTILINE)
RATE = re.compile(r"Requests/sec:\s+([\d.]+)")
P99 = re.compile(r"99% in ([\d.]+) secs")


def parse(output: str) -> Load:
    """Throughput and p99 of hey's summary; LoadFailed unless every answer was 200."""
    statuses = {int(code): int(count) for code, count in STATUS.findall(output)}
    if "Error distribution:" in output:
        errors = output.split("Error distribution:", 1)[1].strip().splitlines()
        raise LoadFailed(f"requests failed: {'; '.join(errors[:3])}")
    wrong = {code: count for code, count in statuses.items() if code != 200}
    if wrong or not statuses:
        raise LoadFailed(f"answers other than 200: {wrong or 'none counted'}")
    rate, p99 = RATE.search(output), P99.search(output)
    if rate is None or p99 is None:
        raise LoadFailed("hey's summary has no Requests/sec or 99% line")
    return Load(statuses[200], float(rate.group(1)), float(p99.group(1)) * 1000)


def _cpu_times() -> tuple[int, int]:
    """(idle, total) jiffies of all CPUs since boot (Linux ``/proc/stat``)."""
    fields = [int(f) for f in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return fields[3] + fields[4], sum(fields)


def idle_share(seconds: float = 1.0) -> float | None:
    """How idle the machine was over ``seconds``; None where it cannot be told."""
    try:
        idle, total = _cpu_times()
        time.sleep(seconds)
        idle_after, total_after = _cpu_times()
    except (OSError, ValueError, IndexError):
        return None
    return (idle_after - idle) / max(1, total_after - total)


def wait_for_quiet(limit: float) -> float | None:
    """Wait up to ``limit`` seconds for the CPUs to be QUIET idle (another process's work
    would be measured too); the last idle share seen."""
    deadline = time.monotonic() + limit
    share = idle_share()
    while share is not None and share < QUIET and time.monotonic() < deadline:
        share = idle_share()
    return share
