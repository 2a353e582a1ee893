"""Consent storage and delivery: records, events, the consent log, checkpoints."""
