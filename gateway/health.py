"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy.exc import SQLAlchemyError

from gateway import migrate
from gateway.db import ping
from gateway.edge import RuntimeDep
from gateway.errors import NotReady

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The process is up")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="The database answers and is migrated to head")
def readyz(rt: RuntimeDep) -> dict[str, str]:
    try:
        ping(rt.engine)
        migrated = migrate.is_current(rt.engine)
    except SQLAlchemyError:
        raise NotReady("the database does not answer") from None
    if not migrated:
        raise NotReady("the database is not migrated: run `accord db upgrade`")
    return {"status": "ready", "database": rt.engine.dialect.name}
