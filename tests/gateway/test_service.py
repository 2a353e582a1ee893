"""Health, readiness, the data standard endpoints, and the one error format."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from consent.taxonomy import DataStandard, to_document
from gateway import migrate
from gateway.app import create_app
from gateway.cli import app as cli
from gateway.runtime import Runtime
from gateway.settings import Settings


def test_healthz(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}


def test_readyz_when_migrated(client: TestClient, engine: Engine) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "database": engine.dialect.name}


def test_readyz_refuses_an_unmigrated_database(client: TestClient, engine: Engine) -> None:
    migrate.downgrade(engine, "base")
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["error"] == "temporarily_unavailable"
    assert "accord db upgrade" in response.json()["error_description"]


def test_readyz_refuses_when_the_database_does_not_answer(
    settings: Settings, standard: DataStandard
) -> None:
    closed_port = settings.model_copy(
        update={"database_url": "postgresql+psycopg://nobody@127.0.0.1:9/none?connect_timeout=2"}
    )
    runtime = Runtime.build(closed_port, standard=standard)
    with TestClient(create_app(closed_port, runtime=runtime)) as test_client:
        response = test_client.get("/readyz")
        assert test_client.get("/healthz").status_code == 200  # alive, not ready
    assert response.status_code == 503
    assert response.json()["error_description"] == "the database does not answer"


def test_schema_serves_the_versioned_standard(client: TestClient, standard: DataStandard) -> None:
    response = client.get("/v1/schema")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.headers["x-accord-standard-version"] == standard.version
    document = response.json()
    assert document == json.loads(json.dumps(to_document(standard)))
    assert document["version"] == "1.0.0"
    assert document["digest"] == standard.digest
    assert len([t for v in document["interest_verticals"] for t in v["tags"]]) >= 200
    assert {p["key"] for p in document["purposes"]} >= {"identity.sso", "marketing.brand_view"}
    assert document["attribute_schema"]["$schema"].endswith("2020-12/schema")


def test_schema_revalidates_with_its_etag(client: TestClient) -> None:
    first = client.get("/v1/schema")
    etag = first.headers["etag"]
    again = client.get("/v1/schema", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag
    assert client.get("/v1/schema", headers={"If-None-Match": '"other"'}).status_code == 200


def test_schema_is_compressed_for_clients_that_accept_gzip(client: TestClient) -> None:
    raw = client.get("/v1/schema", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in raw.headers
    assert raw.headers["vary"] == "Accept-Encoding"
    for accept in ("gzip", "br, gzip;q=0.8", "GZIP"):
        response = client.get("/v1/schema", headers={"Accept-Encoding": accept})
        assert response.headers["content-encoding"] == "gzip", accept
        assert response.content == raw.content  # decoded once: not compressed twice
        assert int(response.headers["content-length"]) < len(raw.content) / 4
    refused = client.get("/v1/schema", headers={"Accept-Encoding": "gzip;q=0"})
    assert "content-encoding" not in refused.headers
    attributes = client.get("/v1/schema/attributes", headers={"Accept-Encoding": "gzip"})
    assert attributes.headers["content-encoding"] == "gzip"
    assert gzip.decompress(gzip.compress(attributes.content)) == attributes.content


def test_attribute_schema_endpoint(client: TestClient, standard: DataStandard) -> None:
    response = client.get("/v1/schema/attributes")
    assert response.headers["content-type"] == "application/schema+json"
    assert response.json() == to_document(standard)["attribute_schema"]


def test_schema_export_writes_what_the_endpoint_serves(client: TestClient, tmp_path: Path) -> None:
    out = tmp_path / "standard.json"
    result = CliRunner().invoke(cli, ["schema", "export", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text(encoding="utf-8")) == client.get("/v1/schema").json()
    attributes = CliRunner().invoke(cli, ["schema", "export", "--attributes-only"])
    assert json.loads(attributes.stdout) == client.get("/v1/schema/attributes").json()


def test_errors_share_the_problem_format(client: TestClient) -> None:
    for response, status in (
        (client.get("/no/such/path"), 404),
        (client.put("/healthz"), 405),
    ):
        assert response.status_code == status
        assert response.headers["content-type"] == "application/problem+json"
        body = response.json()
        assert set(body) >= {"type", "title", "status", "error", "error_description"}
        assert body["status"] == status
        assert body["type"] == f"urn:accord:error:{body['error']}"


def test_unexpected_errors_are_500_without_internals(app: FastAPI) -> None:
    @app.get("/explode")
    def explode() -> None:
        raise RuntimeError("secret internal detail /etc/passwd")

    with TestClient(app, raise_server_exceptions=False) as test_client:
        response = test_client.get("/explode")
    assert response.status_code == 500
    assert response.json()["error"] == "server_error"
    assert "secret" not in response.text


def test_openapi_documents_every_route(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/healthz", "/readyz", "/v1/schema", "/v1/admin/platforms", "/v1/admin/brands"} <= set(
        paths
    )
