"""The Flower adapters' own rules, without a runtime."""

from __future__ import annotations

import pytest
from flwr.app import Context, RecordDict

from federation.apps import _once
from federation.errors import FederationError


def node() -> Context:
    config: dict[str, bool | float | int | str] = {"partition-id": 0, "num-partitions": 3}
    return Context(run_id=1, node_id=7, node_config=config, state=RecordDict(), run_config={})


def test_a_node_answers_each_round_of_a_run_once_and_in_order() -> None:
    context = node()
    _once(context, "run-a", 1)
    _once(context, "run-a", 2)
    for again in (2, 1):
        with pytest.raises(FederationError, match="refused"):
            _once(context, "run-a", again)
    _once(context, "run-a", 5)  # a retried round takes a new number
    _once(context, "run-b", 1)  # another run starts over
    assert context.state.config_records["dp-rounds"]["last-round"] == 1
