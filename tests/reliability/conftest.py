"""Fixtures of the reliability suite: each test's figures, written when it ends."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.reliability.figures import Figures


@pytest.fixture
def figures(request: pytest.FixtureRequest) -> Iterator[Figures]:
    kept = Figures(request.node.nodeid)
    yield kept
    record = kept.write()
    request.node.user_properties.append(("reliability", json.dumps(record, default=str)))
