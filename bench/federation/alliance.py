"""Person-level DP-FedAvg on the alliance data set: accuracy against ε, and a round's cost.

Usage::

    python -m bench.federation.alliance [--persons N] [--seeds S] [--rounds R]
        [--sweep] [--plot PATH] [--out PATH]

Targets (the federation issue): with 100,000 persons on 3 platforms, the DP model at
ε ≤ 3 (δ = N^-1.1) is within 3 accuracy points of the non-private model; a DP round
takes at most twice the wall time of a non-private round.

Method, per seed (the data set, the initial model and every draw follow from it):

- **Data.** :func:`federation.alliance_data.alliance` (N persons, 3 platforms, 10% held
  out for validation); every person consents, so both models see the same persons.
- **Non-private model.** FedAvg over the platforms' whole partitions, as the Flower
  apps' ``fedavg`` mode trains (:func:`federation.model.train`: 1 local epoch of
  mini-batch SGD, batch 64, lr 0.05, 100 rounds, rows-weighted average: converged at
  10,000 persons too, where 30 rounds left it 2.4 points short).
- **DP model.** :func:`federation.training.train` with a
  :class:`~federation.coordinators.LocalCoordinator` (the gateway's sampling, shares,
  accountant and ledger increments, in process): q = 0.02, C = 1, z = 1.0, 200 rounds,
  one local step (lr 1) per person, server lr 8, central noise. The accountant's ε at
  δ = N^-1.1 is the ε reported (RDP, orders 2..256, improved conversion).
- **Round cost.** Every DP round is timed from the plan (charge and sample) to the
  applied update; the same rounds run again with z = 0 (no noise, no charge, the same
  sample and clipping) as the non-private round of the same protocol. The ratio of
  the medians is the target's figure. A full-partition FedAvg round is timed too.
- **Sweep** (``--sweep``, seed 0, N and N/10 persons): z is set for ε ∈ {0.5, 1, 2, 3,
  5, 8} over the same rounds (:func:`federation.accounting.noise_multiplier_for`);
  ``--plot`` draws accuracy against ε, with each N's non-private accuracy and the
  majority-class rate as lines (matplotlib).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from bench.measure import Targets
from federation import model
from federation.accounting import Conversion, noise_multiplier_for
from federation.alliance_data import FEATURES, Alliance, alliance
from federation.coordinators import LocalCoordinator
from federation.simulation import in_process
from federation.training import Hyper, Result, train

POINTS = 3.0  # the DP model within this many accuracy points of the non-private one
EPSILON = 3.0
ROUND_RATIO = 2.0
SWEEP = (0.5, 1.0, 2.0, 3.0, 5.0, 8.0)


@dataclass(frozen=True)
class Setup:
    q: float = 0.02
    clip: float = 1.0
    z: float = 1.0
    hyper: Hyper = field(
        default_factory=lambda: Hyper(rounds=200, local_steps=1, local_lr=1.0, server_lr=8.0)
    )


def fedavg(data: Alliance, seed: int, rounds: int = 100) -> tuple[float, list[float]]:
    """The non-private model's validation accuracy; and each round's seconds."""
    parts = [data.partition(p) for p in range(data.platforms)]
    net = model.build(len(FEATURES), seed=seed)
    arrays = model.get_arrays(net)
    seconds = []
    for number in range(1, rounds + 1):
        started = time.perf_counter()
        sums, weights = [], []
        for part in parts:
            local = model.build(len(FEATURES), seed=0)
            model.set_arrays(local, arrays)
            model.train(local, part.x, part.y, epochs=1, lr=0.05, batch_size=64, seed=number)
            update = model.delta(model.get_arrays(local), arrays)
            sums.append(model.weighted_update(update, len(part.y)))
            weights.append(len(part.y))
        arrays = model.apply_mean(arrays, sums, sum(weights))
        seconds.append(time.perf_counter() - started)
    model.set_arrays(net, arrays)
    validation = data.validation()
    return model.accuracy(net, validation.x, validation.y), seconds


def dp(data: Alliance, seed: int, setup: Setup, *, private: bool = True) -> Result:
    parts = [data.partition(p) for p in range(data.platforms)]
    consenting = [[str(int(p)) for p in np.unique(part.person)] for part in parts]
    coordinator = LocalCoordinator(
        consenting,
        sampling_rate=setup.q,
        clip_norm=setup.clip,
        noise_multiplier=setup.z if private else 0.0,
        epsilon_cap=1e9,
        delta=data.persons**-1.1,
        key=seed.to_bytes(4, "big") * 8,  # an experiment's key: recomputable on purpose
    )
    send = in_process(parts, [np.random.default_rng([seed, p]) for p in range(data.platforms)])
    return train(
        coordinator,
        send,
        replace(setup.hyper, contributions=private),
        data.validation(),
        seed=seed,
        noise=np.random.default_rng([seed, 99]),
    )


def main(targets: Targets | None = None, argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.federation.alliance",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--persons", type=int, default=100_000)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--sweep", action="store_true", help="accuracy at six ε (seed 0)")
    parser.add_argument("--plot", type=Path, default=None, help="accuracy-vs-ε PNG")
    parser.add_argument("--out", type=Path, default=None, help="all figures as JSON")
    args = parser.parse_args(argv)
    setup = Setup(hyper=replace(Setup().hyper, rounds=args.rounds))
    figures: dict[str, Any] = {"persons": args.persons, "setup": repr(setup), "seeds": []}

    print(f"\n### DP-FedAvg on the alliance data set ({args.persons:,} persons, 3 platforms)\n")
    print(
        "| seed | non-private | DP | ε (δ = N^-1.1) | gap, points | DP round | z = 0 round"
        " | FedAvg round |\n| --- | --- | --- | --- | --- | --- | --- | --- |"
    )
    for seed in range(args.seeds):
        data = alliance(args.persons, seed)
        plain, plain_seconds = fedavg(data, seed)
        private = dp(data, seed, setup)
        open_round = dp(data, seed, setup, private=False)
        dp_round = statistics.median(r.seconds for r in private.rounds)
        z0_round = statistics.median(r.seconds for r in open_round.rounds)
        accuracy = private.rounds[-1].accuracy
        gap = 100 * (plain - accuracy)
        row = {
            "seed": seed,
            "non_private": plain,
            "dp": accuracy,
            "dp_state": private.state,
            "epsilon": private.epsilon,
            "gap_points": gap,
            "dp_round_seconds": dp_round,
            "z0_round_seconds": z0_round,
            "z0_accuracy": open_round.rounds[-1].accuracy,
            "fedavg_round_seconds": statistics.median(plain_seconds),
            "dp_accuracy_per_round": [r.accuracy for r in private.rounds],
            "contributions": private.summary()["shares"],
        }
        figures["seeds"].append(row)
        print(
            f"| {seed} | {100 * plain:.2f}% | {100 * accuracy:.2f}% | {private.epsilon:.3f}"
            f" | {gap:.2f} | {1000 * dp_round:.1f} ms | {1000 * z0_round:.1f} ms"
            f" | {1000 * row['fedavg_round_seconds']:.1f} ms |"
        )
    rows = figures["seeds"]
    if rows:
        gap = statistics.median(r["gap_points"] for r in rows)
        epsilon = max(r["epsilon"] for r in rows)
        ratio = statistics.median(r["dp_round_seconds"] / r["z0_round_seconds"] for r in rows)
        print(f"\nmedian gap {gap:.2f} points at ε ≤ {epsilon:.3f}; DP/non-private {ratio:.2f}×")
        figures.update({"median_gap_points": gap, "max_epsilon": epsilon, "round_ratio": ratio})

    if args.sweep:
        figures["sweep"] = {}
        for persons in (args.persons, args.persons // 10):
            data = alliance(persons, 0)
            plain = fedavg(data, 0)[0]
            points = []
            for target in SWEEP:
                z = noise_multiplier_for(
                    target,
                    persons**-1.1,
                    sampling_rate=setup.q,
                    rounds=args.rounds,
                    conversion=Conversion.improved,
                )
                result = dp(data, 0, replace(setup, z=z))
                accuracy = result.rounds[-1].accuracy
                points.append({"epsilon": result.epsilon, "z": z, "accuracy": accuracy})
                print(f"N {persons:,}: ε {result.epsilon:.3f} (z {z:.3f}): {100 * accuracy:.2f}%")
            majority = float(max(np.mean(data.validation().y), 1 - np.mean(data.validation().y)))
            figures["sweep"][str(persons)] = {
                "non_private": plain,
                "majority": majority,
                "points": points,
            }
        if args.plot is not None:
            plot(figures["sweep"], args.plot, args.rounds)
    if args.out is not None:
        args.out.write_text(json.dumps(figures, indent=2), encoding="utf-8")
    if targets is not None and rows:
        targets.at_most("DP model's gap to the non-private model", gap, POINTS, "points")
        targets.at_most("DP model's ε", epsilon, EPSILON, "")
        targets.at_most("DP round / non-private round", ratio, ROUND_RATIO, "×")


def plot(sweep: dict[str, dict[str, Any]], path: Path, rounds: int) -> None:
    # Imported here: only the plot needs matplotlib, not the other benchmarks' runs.
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")  # no display: write the file only
    from matplotlib import pyplot  # noqa: PLC0415

    figure, axes = pyplot.subplots(figsize=(6.4, 4.2), dpi=120)
    lowest = 100.0
    for (persons, run), colour in zip(sweep.items(), ("tab:blue", "tab:orange"), strict=False):
        epsilons = [p["epsilon"] for p in run["points"]]
        accuracies = [100 * p["accuracy"] for p in run["points"]]
        label = f"N = {int(persons):,}"
        axes.plot(epsilons, accuracies, marker="o", color=colour, label=f"DP-FedAvg, {label}")
        axes.axhline(
            100 * run["non_private"], color=colour, linestyle="--", label=f"non-private, {label}"
        )
        lowest = min(lowest, 100 * run["majority"], *accuracies)
    axes.axhline(lowest, color="grey", linestyle=":", label="majority class")
    axes.set_xscale("log")
    axes.set_xticks(list(SWEEP), [f"{e:g}" for e in SWEEP])
    axes.minorticks_off()  # the log scale's minor labels would overlap ours
    axes.set_ylim(lowest - 1, 90)
    axes.set_xlabel("ε (person-level) at δ = N^-1.1")
    axes.set_ylabel("validation accuracy, %")
    axes.set_title(f"Conversion model, 3 platforms, {rounds} rounds, q = 0.02")
    axes.legend(loc="lower right", fontsize=8)
    axes.grid(True, alpha=0.3)
    figure.tight_layout()
    figure.savefig(path)
    pyplot.close(figure)


if __name__ == "__main__":
    measured = Targets()
    main(measured)
    measured.finish()
