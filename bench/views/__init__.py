"""Unified views and sandbox aggregates on 1,000,000 persons: the seeded data
(``generate``, run once and reused) and the measurement (``run``)."""
