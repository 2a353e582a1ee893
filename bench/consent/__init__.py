"""Consent benchmarks: decisions, proofs (and, with the write path, consent writes)."""
