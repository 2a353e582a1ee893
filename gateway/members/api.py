"""The operator's admin API for the member registry.

``/v1/admin/platforms`` and ``/v1/admin/brands``: register (201, the client secret
shown once), list, read, disable and enable. Behind the operator credential.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response

from gateway.edge import OperatorRoute, RuntimeDep, SessionDep
from gateway.members.models import MemberKind, MemberStatus
from gateway.members.registration import MemberSpec, MemberView, Registration
from gateway.members.registry import Registry

COLLECTIONS = {MemberKind.platform: "platforms", MemberKind.brand: "brands"}


def _registry(session: SessionDep, rt: RuntimeDep) -> Registry:
    return Registry(session, rt.standard, rt.hasher)


RegistryDep = Annotated[Registry, Depends(_registry)]


def router() -> APIRouter:
    api = APIRouter(prefix="/v1/admin", tags=["admin: members"], route_class=OperatorRoute)
    for kind, collection in COLLECTIONS.items():
        _mount(api, kind, collection)
    return api


def _mount(api: APIRouter, kind: MemberKind, collection: str) -> None:
    base = f"/{collection}"

    @api.post(
        base,
        status_code=201,
        response_model=Registration,
        summary=f"Register a {kind.value}",
        operation_id=f"register_{kind.value}",
    )
    def register(spec: MemberSpec, response: Response, registry: RegistryDep) -> Registration:
        registration = registry.register(kind, spec)
        response.headers["Location"] = f"/v1/admin/{collection}/{registration.id}"
        response.headers["Cache-Control"] = "no-store"  # the body holds a client secret
        return registration

    @api.get(
        base,
        response_model=list[MemberView],
        summary=f"List {collection}",
        operation_id=f"list_{collection}",
    )
    def list_members(registry: RegistryDep, status: MemberStatus | None = None) -> list[MemberView]:
        return registry.list(kind, status)

    @api.get(
        base + "/{ref}",
        response_model=MemberView,
        summary=f"Read a {kind.value} by id, client id or name",
        operation_id=f"get_{kind.value}",
    )
    def get_member(ref: str, registry: RegistryDep) -> MemberView:
        return registry.get(kind, ref)

    for action, status in (("disable", MemberStatus.disabled), ("enable", MemberStatus.active)):
        _mount_status(api, kind, base, action, status)


def _mount_status(
    api: APIRouter, kind: MemberKind, base: str, action: str, status: MemberStatus
) -> None:
    @api.post(
        base + "/{ref}/" + action,
        response_model=MemberView,
        summary=f"{action.capitalize()} a {kind.value}",
        operation_id=f"{action}_{kind.value}",
    )
    def set_status(ref: str, registry: RegistryDep) -> MemberView:
        return registry.set_status(kind, ref, status)
