"""Reliability: fuzzing the OpenAPI document, crashes, races, key rotation, and a
database restarted under the gateway (docs/reliability.md)."""
