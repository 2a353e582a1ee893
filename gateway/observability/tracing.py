"""Optional OpenTelemetry tracing: one server span per request, named by method and route
template, exported by OTLP over HTTP.

On when ``ACCORD_OTEL_ENDPOINT`` is set (the collector's base URL; spans go to
``<it>/v1/traces``) or the standard ``OTEL_EXPORTER_OTLP_ENDPOINT`` or
``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` is (read by the exporter, as OpenTelemetry
defines). It needs the ``tracing`` extra (``pip install 'accord[tracing]'``), imported
only then: asked for by Accord's own setting without it, the app refuses to start; asked
for by the standard variables only, it warns and runs untraced.

A span carries the W3C trace context of the caller (``traceparent``), the method, the
route template (``http.route``), the status and ``accord.request_id``: never the path or
the query, which here hold pairwise subjects, challenges and codes. That is why the
request edge opens the span itself instead of opentelemetry-instrumentation-asgi, which
records both. Exceptions mark the span as failed by their type, without their message.
"""

# OpenTelemetry is an optional extra: imported inside the functions that run only when
# tracing is on, never at import.
# ruff: noqa: PLC0415

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from gateway.settings import Settings

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import Span, Tracer

log = logging.getLogger("accord.tracing")

STANDARD_ENDPOINTS = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
SERVICE_NAME = "accord-gateway"
INSTRUMENTATION = "gateway.observability"


class TracingUnavailable(RuntimeError):
    """Tracing was asked for and the ``tracing`` extra is not installed."""


class RequestSpan:
    """The span of one request, current while the request is served."""

    def __init__(self, span: Span, token: object) -> None:
        self.span = span
        self.token = token

    def end(self, method: str, route: str, status: int, request_id: str, failed: bool) -> None:
        from opentelemetry import context as otel_context
        from opentelemetry.trace import Status, StatusCode

        span = self.span
        span.update_name(f"{method} {route}")
        span.set_attribute("http.route", route)
        span.set_attribute("http.response.status_code", status)
        span.set_attribute("accord.request_id", request_id)
        if failed or status >= 500:
            span.set_status(Status(StatusCode.ERROR))
        span.end()
        otel_context.detach(self.token)  # type: ignore[arg-type]


class Tracing:
    def __init__(self, provider: TracerProvider) -> None:
        self.provider = provider
        self.tracer: Tracer = provider.get_tracer(INSTRUMENTATION)

    @classmethod
    def configured(cls, settings: Settings, environ: Mapping[str, str]) -> Tracing | None:
        """Tracing as the settings and the standard variables ask, or None."""
        standard = any(environ.get(name) for name in STANDARD_ENDPOINTS)
        if settings.otel_endpoint is None and not standard:
            return None
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
            from opentelemetry.sdk.resources import Resource
            from opentelemetry.sdk.trace import TracerProvider
            from opentelemetry.sdk.trace.export import BatchSpanProcessor
        except ImportError as exc:
            if settings.otel_endpoint is not None:
                raise TracingUnavailable(
                    "ACCORD_OTEL_ENDPOINT is set but OpenTelemetry is not installed: "
                    "pip install 'accord[tracing]'"
                ) from exc
            log.warning("OTEL_EXPORTER_OTLP_ENDPOINT is set but OpenTelemetry is not installed")
            return None
        named = {} if environ.get("OTEL_SERVICE_NAME") else {"service.name": SERVICE_NAME}
        provider = TracerProvider(resource=Resource.create(named))
        endpoint = settings.otel_endpoint
        exporter = (
            OTLPSpanExporter(endpoint=endpoint.rstrip("/") + "/v1/traces")
            if endpoint is not None
            else OTLPSpanExporter()
        )
        provider.add_span_processor(BatchSpanProcessor(exporter))
        return cls(provider)

    def begin(self, method: str, headers: list[tuple[bytes, bytes]]) -> RequestSpan:
        from opentelemetry import context as otel_context
        from opentelemetry import trace

        span = self.tracer.start_span(
            method,
            context=_caller(headers),
            kind=trace.SpanKind.SERVER,
            attributes={"http.request.method": method},
        )
        token = otel_context.attach(trace.set_span_in_context(span))
        return RequestSpan(span, token)

    def shutdown(self) -> None:
        self.provider.shutdown()  # exports what is still queued


def _caller(headers: list[tuple[bytes, bytes]]) -> Context:
    """The caller's trace context (W3C ``traceparent``/``tracestate`` only: no baggage,
    which could carry anything)."""
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    carrier: dict[str, Any] = {
        name.decode("latin-1").lower(): value.decode("latin-1")
        for name, value in headers
        if name.lower() in (b"traceparent", b"tracestate")
    }
    return TraceContextTextMapPropagator().extract(carrier)
