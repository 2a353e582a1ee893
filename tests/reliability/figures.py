"""What a reliability test counts (requests sent, acknowledged, faults injected, fuzz
cases, lost), kept for docs/reliability.md.

Each test's figures go to its report (``user_properties``, so into a JUnit XML file)
and, as one JSON line per test, to ``ACCORD_TEST_FIGURES`` (default
``var/reliability/figures.jsonl``).
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_FILE = ROOT / "var" / "reliability" / "figures.jsonl"


class Figures:
    """Counters and facts of one test, written when it ends."""

    def __init__(self, test: str) -> None:
        self.test = test
        self.counts: Counter[str] = Counter()
        self.facts: dict[str, Any] = {}
        self._started = time.monotonic()

    def add(self, name: str, amount: int = 1) -> None:
        self.counts[name] += amount

    def note(self, name: str, value: Any) -> None:
        self.facts[name] = value

    def as_dict(self) -> dict[str, Any]:
        return {
            "test": self.test,
            "seconds": round(time.monotonic() - self._started, 1),
            **dict(sorted(self.counts.items())),
            **self.facts,
        }

    def write(self) -> dict[str, Any]:
        record = self.as_dict()
        target = Path(os.environ.get("ACCORD_TEST_FIGURES") or DEFAULT_FILE)
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("a", encoding="utf-8") as out:
            out.write(json.dumps(record, sort_keys=True, default=str) + "\n")
        return record
