"""Timing helpers shared by the benchmarks: samples in microseconds, a table row."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


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
