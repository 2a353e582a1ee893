"""Flower adapters: the ServerApp and ClientApp training the conversion model, FedAvg.

Thin adapters over :mod:`federation.model` for Flower's Message API on the deployment
runtime (one SuperLink, one SuperNode per platform; see ``federation/flower_app``).

**Configuration.** The run config (``[tool.flwr.app.config]``, overridden with
``flwr run --run-config``) is the same for the ServerApp and every ClientApp: the
alliance's ``persons``, ``seed`` and ``platforms``, so every node generates the same
alliance (:func:`federation.alliance_data.alliance`) and reads only its own partition.
A SuperNode's node config names its platform: ``partition-id`` (0-based) and
``num-partitions`` (must equal ``platforms``).

**Messages.** A ``train`` message carries ``arrays`` (the global model) and ``config``
(round, local-epochs, lr, batch-size); the reply carries ``update``, the platform's
row-weighted update n·Δ (:func:`federation.model.weighted_update`), and ``metrics``
with ``num-examples`` n. The server adds the updates and divides by Σn: FedAvg, with
only sums on the wire, the shape person-level DP-FedAvg
(:mod:`federation.dp_fedavg`) keeps. An ``evaluate`` message carries ``arrays``; the
reply's ``metrics`` has the platform's ``accuracy`` on its own partition.

**Results.** When ``results-dir`` is set, the ServerApp writes ``result.json`` there
(atomically, after every round), so a caller can wait for it without parsing logs.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from flwr.app import (
    ArrayRecord,
    ConfigRecord,
    Context,
    Message,
    MessageType,
    MetricRecord,
    RecordDict,
    UserConfig,
)
from flwr.clientapp import ClientApp
from flwr.serverapp import Grid, ServerApp

from federation import model
from federation.alliance_data import FEATURES, Alliance, alliance
from federation.errors import FederationError

server = ServerApp()
client = ClientApp()

_NODE_POLL_SECONDS = 0.5


def _setting(config: Mapping[str, object], key: str, kind: type[Any]) -> Any:
    """``config[key]`` as ``kind``; ints pass for floats, nothing else is coerced."""
    if key not in config:
        raise FederationError(f"no {key!r} in {sorted(config)}")
    value = config[key]
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise FederationError(f"{key!r} must be {kind.__name__}, got {value!r}")
    return value


@lru_cache(maxsize=2)
def _alliance(persons: int, seed: int, platforms: int) -> Alliance:
    # A ClientApp process may serve several messages of a run: generate once.
    return alliance(persons, seed, platforms)


def _run_alliance(run_config: UserConfig) -> Alliance:
    return _alliance(
        _setting(run_config, "persons", int),
        _setting(run_config, "seed", int),
        _setting(run_config, "platforms", int),
    )


def _partition_id(context: Context) -> int:
    partition = _setting(context.node_config, "partition-id", int)
    partitions = _setting(context.node_config, "num-partitions", int)
    platforms = _setting(context.run_config, "platforms", int)
    if partitions != platforms:
        raise FederationError(
            f"this SuperNode is one of {partitions} partitions, the run has {platforms} platforms"
        )
    return int(partition)


# --- ClientApp: one platform ----------------------------------------------------------


@client.train()
def train(msg: Message, context: Context) -> Message:
    data = _run_alliance(context.run_config).partition(_partition_id(context))
    config = msg.content.config_records["config"]
    before = msg.content.array_records["arrays"].to_numpy_ndarrays()
    local = model.build(len(FEATURES), seed=0)
    model.set_arrays(local, before)
    train_loss = model.train(
        local,
        data.x,
        data.y,
        epochs=_setting(config, "local-epochs", int),
        lr=_setting(config, "lr", float),
        batch_size=_setting(config, "batch-size", int),
        seed=_setting(config, "round", int) * 1_000 + data.platform,
    )
    rows = len(data.y)
    update = model.weighted_update(model.delta(model.get_arrays(local), before), rows)
    content = RecordDict(
        {
            "update": ArrayRecord(update),
            "metrics": MetricRecord(
                {"num-examples": rows, "train-loss": train_loss, "platform": data.platform}
            ),
        }
    )
    return Message(content, reply_to=msg)


@client.evaluate()
def evaluate(msg: Message, context: Context) -> Message:
    data = _run_alliance(context.run_config).partition(_partition_id(context))
    local = model.build(len(FEATURES), seed=0)
    model.set_arrays(local, msg.content.array_records["arrays"].to_numpy_ndarrays())
    metrics = MetricRecord(
        {
            "num-examples": len(data.y),
            "accuracy": model.accuracy(local, data.x, data.y),
            "loss": model.loss(local, data.x, data.y),
            "platform": data.platform,
        }
    )
    return Message(RecordDict({"metrics": metrics}), reply_to=msg)


# --- ServerApp ------------------------------------------------------------------------


def _wait_for_nodes(grid: Grid, wanted: int, timeout: float) -> list[int]:
    deadline = time.monotonic() + timeout
    while True:
        nodes = sorted(grid.get_node_ids())
        if len(nodes) >= wanted or time.monotonic() >= deadline:
            return nodes
        time.sleep(_NODE_POLL_SECONDS)


def _write_result(directory: str, result: dict[str, Any]) -> None:
    if not directory:
        return
    target = Path(directory)
    target.mkdir(parents=True, exist_ok=True)
    scratch = target / f".result.{os.getpid()}.json"
    scratch.write_text(json.dumps(result, indent=2), encoding="utf-8")
    scratch.replace(target / "result.json")  # atomic: a reader never sees half a file


def _replies(
    grid: Grid, messages: list[Message], timeout: float
) -> tuple[list[Message], list[str]]:
    """The replies without errors; and why each other message has none (error or silence).

    ``send_and_receive`` returns what arrived within ``timeout``: a node that left
    gracefully yields an error reply, a silent one nothing.
    """
    replies = list(grid.send_and_receive(messages, timeout=timeout))
    good = [r for r in replies if not r.has_error()]
    lost = [f"error {r.error.code}: {r.error.reason}" for r in replies if r.has_error()]
    lost += ["no reply"] * (len(messages) - len(replies))
    return good, lost


@server.main()
def main(grid: Grid, context: Context) -> None:
    cfg = context.run_config
    rounds = _setting(cfg, "num-server-rounds", int)
    timeout = _setting(cfg, "round-timeout", float)
    results_dir = _setting(cfg, "results-dir", str)
    validation = _run_alliance(cfg).validation()
    global_model = model.build(len(FEATURES), seed=_setting(cfg, "seed", int))
    arrays = model.get_arrays(global_model)
    result: dict[str, Any] = {
        "run_id": context.run_id,
        "majority": float(max(np.mean(validation.y), 1 - np.mean(validation.y))),
        "initial_accuracy": model.accuracy(global_model, validation.x, validation.y),
        "rounds": [],
        "finished": False,
    }
    nodes = _wait_for_nodes(grid, _setting(cfg, "min-nodes", int), timeout)
    result["nodes"] = len(nodes)
    for current in range(1, rounds + 1):
        started = time.monotonic()
        train_config = ConfigRecord(
            {
                "round": current,
                "local-epochs": _setting(cfg, "local-epochs", int),
                "lr": _setting(cfg, "lr", float),
                "batch-size": _setting(cfg, "batch-size", int),
            }
        )
        messages = [
            Message(
                RecordDict({"arrays": ArrayRecord(arrays), "config": train_config}),
                dst_node_id=node,
                message_type=MessageType.TRAIN,
            )
            for node in nodes
        ]
        replies, lost = _replies(grid, messages, timeout)
        if not replies:
            result["error"] = f"round {current}: no platform replied within {timeout}s"
            _write_result(results_dir, result)
            raise FederationError(result["error"])
        weights = [
            _setting(r.content.metric_records["metrics"], "num-examples", float) for r in replies
        ]
        sums = [r.content.array_records["update"].to_numpy_ndarrays() for r in replies]
        arrays = model.apply_mean(arrays, sums, sum(weights))
        model.set_arrays(global_model, arrays)
        result["rounds"].append(
            {
                "round": current,
                "replies": len(replies),
                "lost": lost,
                "rows": sum(weights),
                "accuracy": model.accuracy(global_model, validation.x, validation.y),
                "loss": model.loss(global_model, validation.x, validation.y),
                "seconds": round(time.monotonic() - started, 3),
            }
        )
        _write_result(results_dir, result)
    evaluations, _ = _replies(
        grid,
        [
            Message(
                RecordDict({"arrays": ArrayRecord(arrays)}),
                dst_node_id=node,
                message_type=MessageType.EVALUATE,
            )
            for node in nodes
        ],
        timeout,
    )
    result["platform_accuracy"] = {
        str(_setting(m, "platform", int)): _setting(m, "accuracy", float)
        for m in (r.content.metric_records["metrics"] for r in evaluations)
    }
    result["finished"] = True
    _write_result(results_dir, result)
