"""A benchmark fails its run when it misses a target of the issues."""

from __future__ import annotations

import pytest

from bench.measure import Targets


def test_a_missed_target_fails_the_run_and_names_it() -> None:
    targets = Targets()
    targets.at_most("decision p99", 150.0, 200.0, "µs")
    targets.at_least("PostgreSQL writes", 1200.0, 1000.0, "consents/s")
    targets.finish()  # both met: no exit
    targets.at_least("PostgreSQL writes (HTTP)", 999.0, 1000.0, "consents/s")
    targets.at_most("inclusion-proof p99", 2.5, 2.0, "ms")
    with pytest.raises(SystemExit) as stopped:
        targets.finish()
    message = str(stopped.value)
    assert "PostgreSQL writes (HTTP): 999 consents/s < 1000 consents/s" in message
    assert "inclusion-proof p99: 2.5 ms > 2 ms" in message
    assert "decision" not in message
