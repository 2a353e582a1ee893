"""The collector as a serving process tunes it (gateway.serving.settle_heap)."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from typing import Any

import pytest

from gateway.serving import YOUNG_COLLECTION, settle_heap


@pytest.fixture
def settled() -> Iterator[None]:
    before = gc.get_threshold()
    settle_heap()
    try:
        yield
    finally:
        gc.set_threshold(*before)
        gc.unfreeze()


def test_start_up_is_frozen_and_the_young_generation_collected_rarely(settled: None) -> None:
    assert gc.get_threshold()[0] == YOUNG_COLLECTION
    assert gc.get_freeze_count() > 0


def test_a_large_live_request_does_not_set_off_full_collections(settled: None) -> None:
    """What a batch of views holds alive while it is built (here 300,000 objects) is
    not walked by full collections: at CPython's 700 there were hundreds of young
    collections and full ones pausing 100-700 ms."""
    seen: list[int] = []

    def count(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            seen.append(int(info["generation"]))

    gc.callbacks.append(count)
    try:
        alive = [{"n": n} for n in range(300_000)]
    finally:
        gc.callbacks.remove(count)
    assert len(alive) == 300_000
    assert seen.count(2) == 0
    assert len(seen) <= 300_000 // YOUNG_COLLECTION + 1
