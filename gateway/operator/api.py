"""The operator's KPI endpoints (being built)."""

from __future__ import annotations

from fastapi import APIRouter


def router() -> APIRouter:
    return APIRouter()
