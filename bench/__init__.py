"""Benchmarks: `make bench` runs each module's `main()`; results go to docs/benchmarks.md."""
