"""Fixtures of the training tests."""

from tests.gateway.training.scene import crowd

__all__ = ["crowd"]
