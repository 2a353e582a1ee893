"""Fixtures of the federation tests that run against a gateway."""

from tests.gateway.alliance import alliance
from tests.gateway.training.scene import crowd

__all__ = ["alliance", "crowd"]
