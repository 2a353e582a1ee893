"""Timing helpers shared by the benchmarks: samples in microseconds, a table row."""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable, Sequence


def sample_us(action: Callable[[], object], runs: int, warmup: int = 50) -> list[float]:
    for _ in range(warmup):
        action()
    samples = []
    for _ in range(runs):
        start = time.perf_counter_ns()
        action()
        samples.append((time.perf_counter_ns() - start) / 1000)
    return samples


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def row(name: str, samples: list[float], unit: str = "µs") -> str:
    scale = 1000.0 if unit == "ms" else 1.0
    med = statistics.median(samples) / scale
    p99 = percentile(samples, 0.99) / scale
    return f"| {name} | {len(samples)} | {med:.3g} {unit} | {p99:.3g} {unit} |"


HEADER = "| case | runs | median | p99 |\n| --- | --- | --- | --- |"


def in_threads(actions: Sequence[Callable[[], int]], seconds: float) -> int:
    """Run each action over and over in its own thread for ``seconds``; the sum of what
    the calls returned (e.g. how many writes each made)."""
    stop = time.perf_counter() + seconds
    done = [0] * len(actions)

    def worker(n: int) -> None:
        while time.perf_counter() < stop:
            done[n] += actions[n]()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(len(actions))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(done)


def all_of(kind: type, results: Sequence[object]) -> int:
    """How many results there are, once each is checked to be a ``kind`` (e.g. every
    consent of a batch recorded); a bench that lost one stops."""
    wrong = [r for r in results if not isinstance(r, kind)]
    if wrong:
        raise SystemExit(
            f"{len(wrong)} of {len(results)} results are not {kind.__name__}: {wrong[:3]}"
        )
    return len(results)


class Targets:
    """The issue's targets a benchmark checks: a missed one fails the run (exit 1)."""

    def __init__(self) -> None:
        self.missed: list[str] = []

    def at_most(self, what: str, value: float, limit: float, unit: str) -> None:
        if value > limit:
            self.missed.append(f"{what}: {value:.3g} {unit} > {limit:g} {unit}")

    def at_least(self, what: str, value: float, limit: float, unit: str) -> None:
        if value < limit:
            self.missed.append(f"{what}: {value:.3g} {unit} < {limit:g} {unit}")

    def finish(self) -> None:
        if self.missed:
            raise SystemExit("targets missed:\n  " + "\n  ".join(self.missed))
        print("\nall targets checked here are met")
