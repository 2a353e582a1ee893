"""``accord train``: a person-level DP-FedAvg run with a progress bar and a report.

By default the run is simulated in process (:mod:`federation.simulation`) on a seeded
alliance data set, planned by a :class:`~federation.coordinators.LocalCoordinator`.
``--runtime deployment`` runs the same rounds on Flower's deployment runtime, one
SuperLink and one SuperNode per platform on 127.0.0.1 (:mod:`federation.deployment`);
``--runtime simulation`` on Flower's simulation runtime, virtual SuperNodes on Ray
(:mod:`federation.flower_simulation`). The bar shows the round, the ε spent and the
validation accuracy (the simulation runtime reports only at its end), and the report
ends with the model's privacy figures and the platforms' contribution shares.

``--demo`` trains over the demo alliance a running gateway serves (``make run``), the
gateway planning every round (:mod:`federation.demo`).
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from click.core import ParameterSource
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from federation import demo
from federation.accounting import Conversion, noise_multiplier_for
from federation.alliance_data import alliance
from federation.coordinators import LocalCoordinator, consenting_accounts
from federation.deployment import launched
from federation.dp_fedavg import Placement
from federation.errors import FederationError
from federation.flower_simulation import simulate
from federation.simulation import in_process
from federation.training import Hyper, RoundLog
from federation.training import train as run_training

console = Console()


class Runtime(StrEnum):
    in_process = "in-process"  # every platform a function call: quickest
    simulation = "simulation"  # Flower's simulation runtime: virtual SuperNodes on Ray
    deployment = "deployment"  # Flower's deployment runtime: a process per SuperNode


def train(
    ctx: typer.Context,
    persons: Annotated[
        int, typer.Option(min=100, help="persons in the alliance data set")
    ] = 20_000,
    platforms: Annotated[int, typer.Option(min=1, max=8)] = 3,
    rounds: Annotated[int, typer.Option(min=1, max=10_000, help="(--demo: 20)")] = 100,
    epsilon: Annotated[
        float, typer.Option(help="the run's ε target: sets z for the rounds (and the cap)")
    ] = 3.0,
    z: Annotated[
        float | None, typer.Option(help="the noise multiplier, instead of --epsilon")
    ] = None,
    q: Annotated[
        float, typer.Option(help="each consenting person's chance per round (--demo: 0.2)")
    ] = 0.02,
    clip: Annotated[float, typer.Option(help="C, the bound on one person's update")] = 1.0,
    placement: Annotated[Placement, typer.Option()] = Placement.central,
    consent_rate: Annotated[float, typer.Option(min=0.0, max=1.0)] = 0.8,
    server_lr: Annotated[float, typer.Option()] = 8.0,
    seed: Annotated[int, typer.Option()] = 0,
    runtime: Annotated[Runtime, typer.Option(help="where the platforms run")] = Runtime.in_process,
    as_json: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False,
    use_demo: Annotated[
        bool, typer.Option("--demo", help="train over the demo alliance a gateway serves")
    ] = False,
    gateway: Annotated[
        str, typer.Option(help="--demo: the gateway's URL (its issuer)")
    ] = "http://127.0.0.1:8000",
    demo_dir: Annotated[
        Path | None,
        typer.Option(help="--demo: the platforms' credentials, var/demo if not given"),
    ] = None,
) -> None:
    """Train the shared conversion model with person-level DP-FedAvg and report it."""
    if use_demo:
        _demo(ctx)
        return
    delta = persons**-1.1
    try:
        noise = (
            z
            if z is not None
            else noise_multiplier_for(
                epsilon, delta, sampling_rate=q, rounds=rounds, conversion=Conversion.improved
            )
        )
        started = time.monotonic()
        settings = {
            "persons": persons, "platforms": platforms, "rounds": rounds, "q": q, "clip": clip,
            "z": noise, "delta": delta, "placement": placement.value, "seed": seed,
            "consent_rate": consent_rate, "mode": runtime.value,
        }  # fmt: skip
        runner = {
            Runtime.in_process: _in_process,
            Runtime.simulation: _flower_simulation,
            Runtime.deployment: _deployed,
        }[runtime]
        report = runner(settings, max(epsilon, 1e-9) * 1.000001, server_lr, as_json)
    except FederationError as refused:
        console.print(f"[red]error:[/red] {refused}")
        raise typer.Exit(1) from None
    report["settings"] = settings
    report["seconds"] = round(time.monotonic() - started, 1)
    if as_json:
        typer.echo(json.dumps(report, indent=2, default=str))
    else:
        _print(report)
    if report["state"] == "failed":
        raise typer.Exit(1)


def _demo(ctx: typer.Context) -> None:
    """``--demo``: the run at the gateway (:mod:`federation.demo`), with the bar and report."""
    params = ctx.params
    given = {p for p in params if ctx.get_parameter_source(p) is not ParameterSource.DEFAULT}
    alliance_only = sorted(given & {"persons", "platforms", "consent_rate"})
    if alliance_only or Runtime(params["runtime"]) is not Runtime.in_process:
        raise typer.BadParameter(
            "--demo runs in process on the gateway's consenting accounts; drop "
            + ", ".join(f"--{n.replace('_', '-')}" for n in alliance_only or ["runtime"])
        )
    # The gateway writes the credentials next to its keys (ACCORD_KEY_DIR), as `make run` does.
    keys = Path(os.environ.get("ACCORD_KEY_DIR") or "var/keys")
    settings = demo.DemoSettings(
        gateway=params["gateway"],
        folder=Path(params["demo_dir"] or keys.parent / "demo"),
        rounds=params["rounds"] if "rounds" in given else demo.ROUNDS,
        epsilon=params["epsilon"],
        z=params["z"],
        q=params["q"] if "q" in given else demo.SAMPLING_RATE,
        clip=params["clip"],
        placement=Placement(params["placement"]),
        server_lr=params["server_lr"],
        seed=params["seed"],
        environ=dict(os.environ),
    )
    as_json = bool(params["as_json"])
    bar = _bar(settings.rounds, as_json)
    task = bar.add_task("rounds", total=settings.rounds, epsilon=0.0, accuracy=0.0)

    def advance(log: RoundLog) -> None:
        bar.start()  # at the first round: the checks before it may end in one line instead
        bar.update(task, completed=log.round, epsilon=log.epsilon, accuracy=log.accuracy)

    try:
        report = demo.run(settings, advance)
    except FederationError as refused:
        typer.echo(f"error: {refused}", err=True)
        raise typer.Exit(1) from None
    finally:
        if bar.live.is_started:
            bar.stop()
    if as_json:
        typer.echo(json.dumps(report, indent=2, default=str))
    else:
        _print_demo(report)
    if report["state"] == "failed":
        raise typer.Exit(1)


def _bar(total: int, quiet: bool) -> Progress:
    return Progress(
        TextColumn("[bold]training[/bold]"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("ε {task.fields[epsilon]:.3f}"),
        TextColumn("accuracy {task.fields[accuracy]:.2%}"),
        TimeElapsedColumn(),
        console=console,
        disable=quiet,
        transient=False,
    )


def _in_process(settings: dict[str, Any], cap: float, server_lr: float, quiet: bool) -> Any:
    data = alliance(settings["persons"], settings["seed"], settings["platforms"])
    parts = [data.partition(p) for p in range(data.platforms)]
    coordinator = LocalCoordinator(
        consenting_accounts(
            [np.unique(p.person) for p in parts], settings["consent_rate"], settings["seed"]
        ),
        sampling_rate=settings["q"],
        clip_norm=settings["clip"],
        noise_multiplier=settings["z"],
        placement=Placement(settings["placement"]),
        epsilon_cap=cap,
        delta=settings["delta"],
        run_id=f"simulation-{settings['seed']}",
    )
    send = in_process(parts, [np.random.default_rng() for _ in parts])
    with _bar(settings["rounds"], quiet) as bar:
        task = bar.add_task("rounds", total=settings["rounds"], epsilon=0.0, accuracy=0.0)

        def advance(log: RoundLog) -> None:
            bar.update(task, completed=log.round, epsilon=log.epsilon, accuracy=log.accuracy)

        result = run_training(
            coordinator,
            send,
            Hyper(rounds=settings["rounds"], server_lr=server_lr),
            data.validation(),
            seed=settings["seed"],
            noise=np.random.default_rng(),
            on_round=advance,
        )
    report = result.summary()
    report["ledger_epsilon"] = sum(c.epsilon for c in coordinator.charges)
    report["majority"] = _majority(data.validation().y)
    return report


def _overrides(settings: dict[str, Any], cap: float, server_lr: float) -> str:
    return (
        f'mode="dp" num-server-rounds={settings["rounds"]} persons={settings["persons"]}'
        f" platforms={settings['platforms']} min-nodes={settings['platforms']}"
        f" seed={settings['seed']} q={settings['q']} clip={settings['clip']} z={settings['z']}"
        f' placement="{settings["placement"]}" epsilon-cap={cap} delta={settings["delta"]}'
        f" consent-rate={settings['consent_rate']} server-lr={server_lr} round-timeout=60.0"
    )


def _flower_simulation(settings: dict[str, Any], cap: float, server_lr: float, quiet: bool) -> Any:
    overrides = _overrides(settings, cap, server_lr)
    with tempfile.TemporaryDirectory(prefix="accord-train-") as scratch:
        if not quiet:
            console.print("starting Flower's simulation runtime (Ray) ...")
        report = simulate(settings["platforms"], overrides, Path(scratch))
    report.pop("progress", None)
    return report


def _deployed(settings: dict[str, Any], cap: float, server_lr: float, quiet: bool) -> Any:
    overrides = _overrides(settings, cap, server_lr)
    with tempfile.TemporaryDirectory(prefix="accord-train-") as scratch:
        results = Path(scratch) / "results"
        with launched(settings["platforms"], Path(scratch)) as fed:
            run_id = fed.submit(f'{overrides} results-dir="{results}"')
            with _bar(settings["rounds"], quiet) as bar:
                task = bar.add_task("rounds", total=settings["rounds"], epsilon=0.0, accuracy=0.0)
                status = fed.status(run_id)
                while not status.startswith("finished"):
                    time.sleep(1)
                    progress = _read(results).get("progress")
                    if progress:
                        bar.update(
                            task,
                            completed=progress["round"],
                            epsilon=progress["epsilon"],
                            accuracy=progress["accuracy"],
                        )
                    status = fed.status(run_id)
            report = _read(results)
            if not report.get("finished"):
                log = (fed.logs / "superlink.log").read_text(encoding="utf-8")[-2000:]
                raise FederationError(f"the run ended {status} without a result:\n{log}")
    report.pop("progress", None)
    return report


def _read(results: Path) -> dict[str, Any]:
    try:
        found: dict[str, Any] = json.loads((results / "result.json").read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return {}
    return found


def _majority(labels: np.ndarray[Any, Any]) -> float:
    share = float(np.mean(labels))
    return max(share, 1 - share)


def _print(report: dict[str, Any]) -> None:
    settings = report["settings"]
    table = Table(title="Training run", show_header=False)
    table.add_row(
        "state", f"{report['state']}" + (f" ({report['reason']})" if report["reason"] else "")
    )
    table.add_row("mode", settings["mode"])
    table.add_row("rounds", f"{report['rounds']} of {settings['rounds']}")
    table.add_row(
        "privacy (person)",
        f"ε = {report['epsilon']:.3f} at δ = {settings['delta']:.3g}"
        f" (RDP, improved conversion); q = {settings['q']}, C = {settings['clip']},"
        f" z = {settings['z']:.3f}, {settings['placement']} noise",
    )
    if "ledger_epsilon" in report:
        table.add_row("ledger charged", f"ε = {report['ledger_epsilon']:.3f}")
    majority = report.get("majority")
    table.add_row(
        "validation accuracy",
        f"{report['initial_accuracy']:.2%} → {report['accuracy']:.2%}"
        + (f" (majority class {majority:.2%})" if majority else ""),
    )
    if report.get("shares"):
        shares = ", ".join(f"platform {i}: {s:.1%}" for i, s in enumerate(report["shares"]))
        table.add_row("contribution shares", shares + " (Shapley, summed over rounds)")
    per_round = report.get("per_round") or []
    if per_round:
        table.add_row(
            "consenting persons",
            f"{per_round[0]['population']:,} → {per_round[-1]['population']:,}",
        )
    table.add_row("wall time", f"{report['seconds']} s")
    console.print(table)


def _print_demo(report: dict[str, Any]) -> None:
    table = Table(title=f"Demo training run at {report['gateway']}", show_header=False)
    state = report["state"] + (f" ({report['reason']})" if report["reason"] else "")
    table.add_row("state", state)
    table.add_row(
        "rounds", f"{report['rounds']} of {report['rounds_asked']}, planned by the gateway"
    )
    mechanism = report["mechanism"]
    run_alone = report["epsilon_run"]
    table.add_row(
        "privacy (person)",
        f"ε = {report['epsilon']:.3f} at δ = {report['delta']:.3g} for the population,"
        " every run composed (RDP)"
        + (f"; this run alone ε = {run_alone:.3f}" if run_alone is not None else "")
        + f"; q = {mechanism['q']}, C = {mechanism['clip']}, z = {mechanism['z']:.3f},"
        f" {mechanism['placement']} noise",
    )
    ledger = report["ledger"]
    table.add_row(
        "ledger",
        f"this run charged ε = {ledger['charged']:.3f}; {ledger['population']}:"
        f" {ledger['spent']:.3f} of {ledger['cap']:g} spent, {ledger['remaining']:.3f} left",
    )
    table.add_row(
        "consenting accounts",
        ", ".join(f"{slug} {n:,}" for slug, n in report["consenting_accounts"].items()),
    )
    persons = report["persons_per_round"]
    table.add_row("persons per round (N)", f"{persons[0]:,} → {persons[-1]:,}")
    table.add_row(
        "accuracy (held-out)",
        f"{report['initial_accuracy']:.2%} → {report['accuracy']:.2%}"
        f" on {report['validation_accounts']:,} synthetic accounts; non-private"
        f" {report['non_private_accuracy']:.2%}, majority class {report['majority']:.2%}",
    )
    if report["shares"]:
        shares = ", ".join(f"{slug} {s:.1%}" for slug, s in report["shares"].items())
        table.add_row("contribution shares", shares + " (Shapley)")
    model = report["model"]
    table.add_row(
        "model",
        f"{model['name']} v{model['version']}, id {model['id']}" if model else "not registered",
    )
    table.add_row("wall time", f"{report['seconds']} s")
    console.print(table)
