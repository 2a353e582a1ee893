"""Well-known documents: the JWKS (RFC 7517) now; OpenID and SSF configuration later."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from gateway.edge import RuntimeDep

router = APIRouter(tags=["discovery"])


@router.get("/.well-known/jwks.json", summary="Public signing keys (RFC 7517 JWK Set)")
def jwks(rt: RuntimeDep, response: Response) -> dict[str, Any]:
    response.headers["Cache-Control"] = "public, max-age=300"
    return rt.keys.jwks()
