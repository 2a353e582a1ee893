"""Run every benchmark: ``python -m bench`` (``make bench``)."""

from __future__ import annotations

from bench import schema
from bench.consent import decisions, proofs, writes
from bench.federation import alliance, fedprox
from bench.measure import Targets
from bench.oidc import tokens
from bench.views import run as views


def main() -> None:
    """Every benchmark runs; a missed target then fails the whole run."""
    targets = Targets()
    schema.main()
    for module in (decisions, proofs, writes, tokens, views, fedprox, alliance):
        module.main(targets)
    targets.finish()


if __name__ == "__main__":
    main()
