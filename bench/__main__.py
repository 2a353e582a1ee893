"""Run every benchmark: ``python -m bench`` (``make bench``)."""

from __future__ import annotations

from bench import schema


def main() -> None:
    for module in (schema,):
        module.main()


if __name__ == "__main__":
    main()
