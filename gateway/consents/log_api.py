"""The consent log, published: its identity, its latest signed checkpoint (C2SP
tlog-checkpoint), and inclusion and consistency proofs (RFC 9162 §2.1.3, §2.1.4).

Anyone may read these: a leaf is a salted hash and discloses nothing.
"""

from __future__ import annotations

import base64
from typing import Annotated

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel

from consent.errors import LogError
from gateway.consents import log_store
from gateway.edge import RuntimeDep, SessionDep
from gateway.errors import NotFound

router = APIRouter(tags=["consent log"])
MAX_INDEX = 2**62


class LogInfo(BaseModel):
    origin: str
    verifier_key: str  # C2SP signed-note verifier key: name+key-id+Ed25519 public key
    checkpoint_url: str
    size: int


class InclusionProof(BaseModel):
    index: int
    size: int
    hashes: list[str]  # standard base64, leaf to root


class ConsistencyProof(BaseModel):
    first: int
    second: int
    hashes: list[str]


def _b64(values: list[bytes]) -> list[str]:
    return [base64.b64encode(v).decode("ascii") for v in values]


@router.get("/.well-known/consent-log", response_model=LogInfo)
def log_info(rt: RuntimeDep, session: SessionDep) -> LogInfo:
    identity = log_store.LogIdentity.for_issuer(rt.settings.issuer, rt.keys.log_key())
    return LogInfo(
        origin=identity.origin,
        verifier_key=identity.verifier_key,
        checkpoint_url=rt.settings.issuer.rstrip("/") + "/.well-known/consent-log/checkpoint",
        size=log_store.reader(session).size(),
    )


@router.get("/.well-known/consent-log/checkpoint", response_class=Response)
def checkpoint(session: SessionDep) -> Response:
    """The latest signed checkpoint, as the signed note text."""
    latest = log_store.latest_checkpoint(session)
    if latest is None:
        raise NotFound("the log has no checkpoint yet")
    return Response(
        latest.note,
        media_type="text/plain; charset=utf-8",
        headers={"Cache-Control": "no-cache"},
    )


@router.get("/v1/log/proofs/inclusion", response_model=InclusionProof)
def inclusion(
    session: SessionDep,
    index: Annotated[int, Query(ge=0, le=MAX_INDEX)],
    size: Annotated[int, Query(ge=1, le=MAX_INDEX)],
) -> InclusionProof:
    log = log_store.reader(session)
    if size > log.size() or index >= size:
        raise LogError("the index must be below the size, and the size at most the log's")
    return InclusionProof(index=index, size=size, hashes=_b64(log.inclusion_proof(index, size)))


@router.get("/v1/log/proofs/consistency", response_model=ConsistencyProof)
def consistency(
    session: SessionDep,
    first: Annotated[int, Query(ge=0, le=MAX_INDEX)],
    second: Annotated[int, Query(ge=0, le=MAX_INDEX)],
) -> ConsistencyProof:
    log = log_store.reader(session)
    if not first <= second <= log.size():
        raise LogError("need first <= second <= the log's size")
    return ConsistencyProof(
        first=first, second=second, hashes=_b64(log.consistency_proof(first, second))
    )
