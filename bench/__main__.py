"""Run every benchmark: ``python -m bench`` (``make bench``)."""

from __future__ import annotations

from bench import schema
from bench.consent import decisions, proofs


def main() -> None:
    for module in (schema, decisions, proofs):
        module.main()


if __name__ == "__main__":
    main()
