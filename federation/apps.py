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

**DP-FedAvg.** With ``mode = "dp"`` the server runs :func:`federation.training.train`:
person-level DP-FedAvg, each round planned by a coordinator. With ``gateway`` set, the
gateway plans (:class:`~federation.coordinators.GatewayCoordinator`; the operator
token comes from the ServerApp's environment, ``ACCORD_OPERATOR_TOKEN``, never from
the run config) and each platform reads its picks through its own SDK client (node
config ``gateway``, ``client-id`` and ``client-secret-file``); otherwise a
:class:`~federation.coordinators.LocalCoordinator` plans in the ServerApp and sends each
platform its picks in the message (experiments on generated data). A ``query``
message first asks every node which platform it serves. A node answers each round of
a run once and in order (its ``context.state`` remembers the last): a repeated round
would draw a fresh noise share.

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

from federation import training
from federation.alliance_data import FEATURES, Alliance, alliance
from federation.coordinators import (
    GatewayCoordinator,
    LocalCoordinator,
    consenting_accounts,
    gateway_picks,
)
from federation.dp_fedavg import Placement, Plan
from federation.errors import FederationError
from sdk import ClientSecretBasic, OperatorClient, OperatorToken, PlatformClient

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


@client.query()
def query(msg: Message, context: Context) -> Message:
    """Which platform this node serves (the server maps nodes to platforms)."""
    metrics = MetricRecord({"platform": _partition_id(context)})
    return Message(RecordDict({"metrics": metrics}), reply_to=msg)


@client.train()
def train(msg: Message, context: Context) -> Message:
    config = msg.content.config_records["config"]
    if config.get("mode") == "dp":
        return _dp_train(msg, context, config)
    # torch on first use only: every ClientApp message starts a process, a DP round
    # never needs torch, and importing it takes about two seconds.
    from federation import model  # noqa: PLC0415

    data = _run_alliance(context.run_config).partition(_partition_id(context))
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
    # torch on first use only: every ClientApp message starts a process, a DP round
    # never needs torch, and importing it takes about two seconds.
    from federation import model  # noqa: PLC0415

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


def _dp_train(msg: Message, context: Context, config: ConfigRecord) -> Message:
    platform = _partition_id(context)
    data = _run_alliance(context.run_config).partition(platform)
    planned = training.Planned(
        Plan(
            _setting(config, "round", int),
            _setting(config, "q", float),
            _setting(config, "clip", float),
            _setting(config, "z", float),
            Placement(_setting(config, "placement", str)),
            _setting(config, "platforms", int),
            _setting(config, "population", int),
        ),
        _setting(config, "run-id", str),
        _setting(config, "epsilon", float),
        _setting(config, "delta", float),
    )
    _once(context, planned.run_id, planned.plan.round)
    hyper = training.Hyper(
        rounds=1,
        local_steps=_setting(config, "local-steps", int),
        local_lr=_setting(config, "local-lr", float),
    )
    arrays = msg.content.array_records["arrays"].to_numpy_ndarrays()
    request = training.RoundRequest(planned, [np.asarray(a, np.float32) for a in arrays], hyper)
    if "picks" in msg.content.array_records:
        accounts, shares = msg.content.array_records["picks"].to_numpy_ndarrays()
        picks = [(str(int(a)), float(w)) for a, w in zip(accounts, shares, strict=True)]
    else:
        picks = gateway_picks(_platform_client(context), planned.run_id, planned.plan.round)
    seed = _setting(context.run_config, "noise-seed", int)
    noise = np.random.default_rng(
        None if seed < 0 else [seed, planned.plan.round, platform]
    )  # entropy from the OS unless a test fixes it
    total = training.contribute(request, data, picks, noise)
    content = RecordDict(
        {"total": ArrayRecord([total]), "metrics": MetricRecord({"platform": platform})}
    )
    return Message(content, reply_to=msg)


def _once(context: Context, run_id: str, number: int) -> None:
    """A platform answers each round of a run once, in order (per-node state in
    ``context.state``): a repeated round would draw a fresh noise share, and averaging
    several would cancel it; the server retries a round under a new number."""
    seen = context.state.config_records.get("dp-rounds")
    if seen is not None and seen.get("run-id") == run_id:
        last = _setting(seen, "last-round", int)
        if number <= last:
            raise FederationError(f"round {number} of run {run_id} comes after {last}: refused")
    context.state["dp-rounds"] = ConfigRecord({"run-id": run_id, "last-round": number})


def _platform_client(context: Context) -> PlatformClient:
    node = context.node_config
    secret = Path(_setting(node, "client-secret-file", str)).read_text(encoding="utf-8").strip()
    auth = ClientSecretBasic(_setting(node, "client-id", str), secret)
    return PlatformClient(_setting(node, "gateway", str), auth=auth)


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
    if context.run_config.get("mode", "fedavg") == "dp":
        _dp_main(grid, context)
        return
    _fedavg_main(grid, context)


def _fedavg_main(grid: Grid, context: Context) -> None:
    # torch on first use only: every ClientApp message starts a process, a DP round
    # never needs torch, and importing it takes about two seconds.
    from federation import model  # noqa: PLC0415

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
    start = _setting(cfg, "start-timeout", float)
    nodes = _wait_for_nodes(grid, _setting(cfg, "min-nodes", int), start)
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


# --- ServerApp: DP-FedAvg --------------------------------------------------------------


def _platforms_of(grid: Grid, nodes: list[int], timeout: float) -> dict[int, int]:
    """node id -> the platform (partition) it serves; nodes are asked again until each
    answered or ``timeout`` passed (a node's first message starts its ClientApp)."""
    mapping: dict[int, int] = {}
    deadline = time.monotonic() + timeout
    while len(mapping) < len(nodes) and time.monotonic() < deadline:
        asked = [
            Message(RecordDict({}), dst_node_id=node, message_type=MessageType.QUERY)
            for node in nodes
            if node not in mapping
        ]
        replies, _ = _replies(grid, asked, max(1.0, deadline - time.monotonic()))
        for reply in replies:
            metrics = reply.content.metric_records["metrics"]
            mapping[reply.metadata.src_node_id] = _setting(metrics, "platform", int)
    if not mapping:
        raise FederationError(f"no node said which platform it serves within {timeout}s")
    return mapping


def _coordinator(cfg: UserConfig, data: Alliance) -> training.Coordinator:
    q, clip, z = (_setting(cfg, k, float) for k in ("q", "clip", "z"))
    placement = Placement(_setting(cfg, "placement", str))
    gateway = _setting(cfg, "gateway", str)
    if gateway:
        token = os.environ.get("ACCORD_OPERATOR_TOKEN", "")
        operator = OperatorClient(gateway, auth=OperatorToken(token))
        run = operator.start_run(
            name=_setting(cfg, "run-name", str),
            purpose="train_ai_system.profile_model",
            platforms=_setting(cfg, "platform-names", str).split(","),
            sampling_rate=q,
            clip_norm=clip,
            noise_multiplier=z,
            rounds=_setting(cfg, "num-server-rounds", int),
            placement=placement.value,
        )
        return GatewayCoordinator(operator, run.id)
    partitions = [data.partition(p) for p in range(data.platforms)]
    consenting = consenting_accounts(
        [np.unique(p.person) for p in partitions],
        _setting(cfg, "consent-rate", float),
        _setting(cfg, "seed", int),
    )
    delta = _setting(cfg, "delta", float) or data.persons**-1.1
    return LocalCoordinator(
        consenting,
        sampling_rate=q,
        clip_norm=clip,
        noise_multiplier=z,
        placement=placement,
        epsilon_cap=_setting(cfg, "epsilon-cap", float),
        delta=delta,
        run_id=str(context_run_id(cfg)),
    )


def context_run_id(cfg: UserConfig) -> str:
    return f"local-{_setting(cfg, 'seed', int)}"


def _dp_main(grid: Grid, context: Context) -> None:
    cfg = context.run_config
    timeout = _setting(cfg, "round-timeout", float)
    results_dir = _setting(cfg, "results-dir", str)
    data = _run_alliance(cfg)
    # Joining and a first answer start processes (a ClientApp per node): on a loaded
    # machine that takes longer than a round, so it has a timeout of its own.
    start = _setting(cfg, "start-timeout", float)
    try:
        nodes = _wait_for_nodes(grid, _setting(cfg, "min-nodes", int), start)
        platform_of = _platforms_of(grid, nodes, start)
    except FederationError as failed:  # said in the result too, not only in a log
        failure = {"state": "failed", "error": str(failed), "finished": True}
        _write_result(results_dir, {"run_id": context.run_id, "mode": "dp", **failure})
        raise
    coordinator = _coordinator(cfg, data)
    report: dict[str, Any] = {"run_id": context.run_id, "mode": "dp", "nodes": len(nodes)}

    def send(request: training.RoundRequest) -> tuple[list[training.Reply], list[str]]:
        planned, plan = request.planned, request.planned.plan
        config = ConfigRecord(
            {
                "mode": "dp",
                "run-id": planned.run_id,
                "round": plan.round,
                "q": plan.sampling_rate,
                "clip": plan.clip_norm,
                "z": plan.noise_multiplier,
                "placement": plan.placement.value,
                "platforms": plan.platforms,
                "population": plan.population,
                "epsilon": planned.epsilon,
                "delta": planned.delta,
                "local-steps": request.hyper.local_steps,
                "local-lr": request.hyper.local_lr,
            }
        )
        messages = []
        for node, platform in platform_of.items():
            records: dict[str, Any] = {"arrays": ArrayRecord(request.arrays), "config": config}
            if planned.picks is not None:
                accounts = np.array([int(a) for a, _ in planned.picks[platform]], np.int64)
                shares = np.array([w for _, w in planned.picks[platform]], np.float64)
                records["picks"] = ArrayRecord([accounts, shares])
            messages.append(
                Message(RecordDict(records), dst_node_id=node, message_type=MessageType.TRAIN)
            )
        good, lost = _replies(grid, messages, timeout)
        replies = [
            training.Reply(
                _setting(r.content.metric_records["metrics"], "platform", int),
                np.asarray(r.content.array_records["total"].to_numpy_ndarrays()[0], np.float64),
            )
            for r in good
        ]
        return replies, lost

    def progress(log: training.RoundLog) -> None:
        report["progress"] = vars(log)
        _write_result(results_dir, {**report, "finished": False})

    result = training.train(
        coordinator,
        send,
        training.Hyper(
            rounds=_setting(cfg, "num-server-rounds", int),
            local_steps=_setting(cfg, "local-steps", int),
            local_lr=_setting(cfg, "local-lr", float),
            server_lr=_setting(cfg, "server-lr", float),
        ),
        data.validation(),
        seed=_setting(cfg, "seed", int),
        noise=np.random.default_rng(),
        on_round=progress,
    )
    report.update(result.summary())
    if isinstance(coordinator, GatewayCoordinator) and result.rounds:
        registered = coordinator.register(result, _setting(cfg, "run-name", str))
        report["model"] = {"id": registered.id, "version": registered.version}
    if isinstance(coordinator, LocalCoordinator):
        report["ledger_epsilon"] = sum(c.epsilon for c in coordinator.charges)
    _write_result(results_dir, {**report, "finished": True})
