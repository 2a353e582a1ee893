"""Optional tracing: one server span per request, named by the route template, carrying
the caller's trace and never the path or the query."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from gateway.app import create_app
from gateway.observability.tracing import Tracing, TracingUnavailable
from gateway.runtime import Runtime
from gateway.settings import Settings
from tests.conftest import make_settings

pytest.importorskip("opentelemetry.sdk", reason="the tracing extra is not installed")

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter,
)
from opentelemetry.trace import SpanKind, StatusCode

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
PARENT_ID = "b7ad6b7169203331"
SUBJECT = "pairwise-subject-of-someone"


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def traced(
    settings: Settings, runtime: Runtime, exporter: InMemorySpanExporter
) -> Iterator[TestClient]:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    app = create_app(settings, runtime=runtime, tracing=Tracing(provider))
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client
    provider.shutdown()


def _only(exporter: InMemorySpanExporter) -> ReadableSpan:
    (span,) = exporter.get_finished_spans()
    return span


def test_a_request_is_a_span_named_by_its_route_in_the_callers_trace(
    traced: TestClient, exporter: InMemorySpanExporter
) -> None:
    response = traced.get(
        f"/v1/views/{SUBJECT}",
        params={"purpose": "marketing.brand_view", "code": "code-qZx-secret"},
        headers={"traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01"},
    )
    assert response.status_code == 401
    span = _only(exporter)
    assert span.name == "GET /v1/views/{sub}" and span.kind is SpanKind.SERVER
    attributes = dict(span.attributes or {})
    assert attributes == {
        "http.request.method": "GET",
        "http.route": "/v1/views/{sub}",
        "http.response.status_code": 401,
        "accord.request_id": response.headers["x-request-id"],
    }
    assert f"{span.context.trace_id:032x}" == TRACE_ID
    assert span.parent is not None and f"{span.parent.span_id:016x}" == PARENT_ID
    everything = repr(span.to_json())
    assert (
        SUBJECT not in everything
        and "code-qZx-secret" not in everything
        and "purpose" not in everything
    )


def test_a_failed_request_marks_its_span(
    settings: Settings, runtime: Runtime, exporter: InMemorySpanExporter
) -> None:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    app = create_app(settings, runtime=runtime, tracing=Tracing(provider))

    def broken() -> None:
        raise RuntimeError("refresh_token=do-not-export")

    app.add_api_route("/broken", broken)
    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.get("/broken").status_code == 500
    span = _only(exporter)
    assert span.status.status_code is StatusCode.ERROR
    assert span.name == "GET /broken" and not span.events  # the message is not exported
    assert "do-not-export" not in repr(span.to_json())


def test_tracing_is_on_only_when_asked(settings: Settings, tmp_path: Path) -> None:
    assert Tracing.configured(settings, {}) is None
    standard = Tracing.configured(settings, {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1"})
    assert standard is not None
    standard.shutdown()
    ours = make_settings(tmp_path, otel_endpoint="http://collector.example:4318")
    configured = Tracing.configured(ours, {})
    assert configured is not None
    configured.shutdown()


def test_without_the_extra_our_setting_refuses_and_the_standard_one_warns(
    settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setitem(sys.modules, "opentelemetry.exporter.otlp.proto.http.trace_exporter", None)
    ours = make_settings(tmp_path, otel_endpoint="http://collector.example:4318")
    with pytest.raises(TracingUnavailable, match="accord\\[tracing\\]"):
        Tracing.configured(ours, {})
    assert Tracing.configured(settings, {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://x:1"}) is None
    assert "OpenTelemetry is not installed" in caplog.text


def test_an_endpoint_must_be_a_url(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="absolute http"):
        make_settings(tmp_path, otel_endpoint="collector:4318")
