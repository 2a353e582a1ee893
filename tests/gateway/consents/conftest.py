"""The alliance fixture lives in tests/gateway/alliance.py (shared by every slice)."""

from tests.gateway.alliance import NOTICE_TEXT, Alliance, alliance

__all__ = ["NOTICE_TEXT", "Alliance", "alliance"]
