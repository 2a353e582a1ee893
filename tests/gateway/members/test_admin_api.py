"""The operator's admin API for the member registry."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func
from sqlmodel import Session, select

from gateway.members import registry as registry_module
from gateway.members.models import Member, MemberPurpose, MemberRedirectURI
from gateway.runtime import Runtime
from tests.gateway.members.cases import REFUSALS, brand_spec, ec_jwk, platform_spec


def _counts(runtime: Runtime) -> tuple[int, int, int]:
    with Session(runtime.engine) as session:
        return (
            session.exec(select(func.count()).select_from(Member)).one(),
            session.exec(select(func.count()).select_from(MemberRedirectURI)).one(),
            session.exec(select(func.count()).select_from(MemberPurpose)).one(),
        )


def test_register_a_platform(
    client: TestClient, operator: dict[str, str], runtime: Runtime
) -> None:
    response = client.post("/v1/admin/platforms", json=platform_spec(), headers=operator)
    assert response.status_code == 201, response.text
    body = response.json()
    assert response.headers["location"] == f"/v1/admin/platforms/{body['id']}"
    assert response.headers["cache-control"] == "no-store"
    assert body["kind"] == "platform"
    assert body["client_id"].startswith("plt_")
    assert body["auth_method"] == "client_secret_basic"
    assert body["sector"] == "redleaf.example"
    assert body["status"] == "active"
    assert body["purposes"] == ["identity.sso", "personalize.content"]
    secret = body["client_secret"]
    assert len(secret) >= 43
    # Only a keyed hash of the secret is at rest, and it verifies.
    with Session(runtime.engine) as session:
        member = session.exec(select(Member).where(Member.id == body["id"])).one()
    assert member.client_secret_hash is not None
    assert secret not in member.client_secret_hash
    assert runtime.hasher.verify(secret, member.client_secret_hash)
    # The secret is never shown again.
    again = client.get(f"/v1/admin/platforms/{body['id']}", headers=operator).json()
    assert "client_secret" not in again
    assert again["redirect_uris"] == ["https://redleaf.example/auth/callback"]


def test_register_a_brand_with_keys_uses_private_key_jwt(
    client: TestClient, operator: dict[str, str]
) -> None:
    jwks = {"keys": [ec_jwk("brand-1")]}
    spec = brand_spec(jwks=jwks, sector="https://aurora.example/sector.json")
    response = client.post("/v1/admin/brands", json=spec, headers=operator)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["auth_method"] == "private_key_jwt"
    assert body["client_secret"] is None
    assert body["jwks"] == jwks
    assert body["sector"] == "aurora.example"
    assert body["login_url"] is None


def test_localhost_http_redirects_are_allowed_for_development(
    client: TestClient, operator: dict[str, str]
) -> None:
    spec = brand_spec(
        redirect_uris=["http://localhost:8201/cb", "http://127.0.0.1:8201/cb"], sector="demo.test"
    )
    assert client.post("/v1/admin/brands", json=spec, headers=operator).status_code == 201


def test_list_read_disable_enable(client: TestClient, operator: dict[str, str]) -> None:
    created = client.post("/v1/admin/brands", json=brand_spec(), headers=operator).json()
    client.post("/v1/admin/platforms", json=platform_spec(), headers=operator)
    listed = client.get("/v1/admin/brands", headers=operator).json()
    assert [m["name"] for m in listed] == ["Aurora Cosmetics"]  # platforms are not brands

    for ref in (created["id"], created["client_id"], "  aurora   COSMETICS "):
        assert client.get(f"/v1/admin/brands/{ref}", headers=operator).json()["id"] == created["id"]
    assert client.get(f"/v1/admin/platforms/{created['id']}", headers=operator).status_code == 404

    disabled = client.post(f"/v1/admin/brands/{created['id']}/disable", headers=operator).json()
    assert disabled["status"] == "disabled" and disabled["disabled_at"] is not None
    assert client.get("/v1/admin/brands?status=active", headers=operator).json() == []
    assert len(client.get("/v1/admin/brands?status=disabled", headers=operator).json()) == 1
    enabled = client.post(f"/v1/admin/brands/{created['id']}/enable", headers=operator).json()
    assert enabled["status"] == "active" and enabled["disabled_at"] is None


@pytest.mark.parametrize(
    ("collection", "spec", "status", "code", "message"),
    [pytest.param(*case[1:], id=case[0]) for case in REFUSALS],
)
def test_refusals_are_clear_and_write_nothing(
    client: TestClient,
    operator: dict[str, str],
    runtime: Runtime,
    collection: str,
    spec: dict[str, Any],
    status: int,
    code: str,
    message: str,
) -> None:
    response = client.post(f"/v1/admin/{collection}", json=spec, headers=operator)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["error"] == code
    assert message in body["error_description"]
    assert _counts(runtime) == (0, 0, 0)


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("Redleaf Social Shop", id="same"),
        pytest.param("  redleaf   SOCIAL shop", id="case-and-spaces"),
        pytest.param("Ｒｅｄｌｅａｆ Social Shop", id="full-width"),
    ],
)
def test_duplicate_names_are_refused(
    client: TestClient, operator: dict[str, str], runtime: Runtime, name: str
) -> None:
    assert (
        client.post("/v1/admin/platforms", json=platform_spec(), headers=operator).status_code
        == 201
    )
    before = _counts(runtime)
    # Across kinds too: a brand may not take a platform's name.
    response = client.post("/v1/admin/brands", json=brand_spec(name=name), headers=operator)
    assert response.status_code == 409
    assert response.json()["error"] == "conflict"
    assert "already exists" in response.json()["error_description"]
    assert _counts(runtime) == before


def test_a_failure_mid_registration_leaves_nothing_half_written(
    client: TestClient, operator: dict[str, str], runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The member row is flushed before its purposes; a failure there rolls all back."""

    def broken_purpose(**_: Any) -> MemberPurpose:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(registry_module, "MemberPurpose", broken_purpose)
    response = client.post("/v1/admin/platforms", json=platform_spec(), headers=operator)
    assert response.status_code == 500
    assert response.json()["error"] == "server_error"
    assert "disk on fire" not in response.text  # internal detail stays inside
    assert _counts(runtime) == (0, 0, 0)


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="none"),
        pytest.param({"Authorization": "Bearer wrong"}, id="wrong"),
        pytest.param({"Authorization": "Basic b3A6b3A="}, id="basic"),
        pytest.param({"Authorization": "Bearer "}, id="empty"),
    ],
)
def test_the_admin_api_needs_the_operator_credential(
    client: TestClient, runtime: Runtime, headers: dict[str, str]
) -> None:
    requests = [
        ("POST", "/v1/admin/brands", {"json": brand_spec()}),
        ("GET", "/v1/admin/platforms", {}),
        ("GET", "/v1/admin/platforms/anyone", {}),
        ("POST", "/v1/admin/brands/anyone/disable", {}),
        # Checked before the body is read: a bad body still gets 401, not 400.
        ("POST", "/v1/admin/brands", {"content": b"{not json"}),
    ]
    for method, path, body in requests:
        response = client.request(method, path, headers=headers, **body)  # type: ignore[arg-type]
        assert response.status_code == 401, (method, path)
        assert response.json()["error"] == "invalid_token"
        assert response.headers["www-authenticate"].startswith("Bearer")
    assert _counts(runtime) == (0, 0, 0)


@pytest.mark.parametrize(
    ("content", "content_type", "fragment"),
    [
        pytest.param(b"{not json", "application/json", "JSON decode error", id="malformed"),
        pytest.param(b'{"name": 42}', "application/json", "name", id="wrong-type"),
        pytest.param(b'{"name": "X", "colour": "red"}', "application/json", "colour", id="extra"),
        pytest.param(b"[]", "application/json", "body", id="not-an-object"),
        pytest.param(b"name=X", "application/x-www-form-urlencoded", "body", id="form"),
    ],
)
def test_malformed_bodies_are_400(
    client: TestClient,
    operator: dict[str, str],
    runtime: Runtime,
    content: bytes,
    content_type: str,
    fragment: str,
) -> None:
    response = client.post(
        "/v1/admin/brands",
        content=content,
        headers={**operator, "Content-Type": content_type},
    )
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["error"] == "invalid_request"
    assert fragment in body["error_description"]
    assert _counts(runtime) == (0, 0, 0)


def test_oversized_bodies_are_413(
    client: TestClient, operator: dict[str, str], runtime: Runtime
) -> None:
    spec = brand_spec(name="x" * (2 * 1024 * 1024))
    response = client.post("/v1/admin/brands", json=spec, headers=operator)
    assert response.status_code == 413
    assert response.json()["error"] == "invalid_request"
    assert "exceeds 1048576 bytes" in response.json()["error_description"]

    def chunks() -> Any:  # no Content-Length: the limit counts streamed bytes
        for _ in range(40):
            yield b"x" * 65536

    response = client.post(
        "/v1/admin/brands",
        content=chunks(),
        headers={**operator, "Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert _counts(runtime) == (0, 0, 0)


def test_oversized_fields_and_lists_are_refused(
    client: TestClient, operator: dict[str, str]
) -> None:
    too_many = brand_spec(redirect_uris=[f"https://aurora.example/{i}" for i in range(51)])
    response = client.post("/v1/admin/brands", json=too_many, headers=operator)
    assert response.status_code == 400
    assert "redirect_uris" in response.json()["error_description"]
    long_name = brand_spec(name="n" * 201)
    assert client.post("/v1/admin/brands", json=long_name, headers=operator).status_code == 400


def test_unknown_members_and_methods(client: TestClient, operator: dict[str, str]) -> None:
    response = client.get("/v1/admin/brands/nobody", headers=operator)
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"
    assert client.delete("/v1/admin/brands", headers=operator).status_code == 405
    assert client.post("/v1/admin/brands/nobody/disable", headers=operator).status_code == 404
