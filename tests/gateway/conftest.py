"""Fixtures shared by the gateway's tests."""

from tests.gateway.alliance import alliance, redleaf

__all__ = ["alliance", "redleaf"]
