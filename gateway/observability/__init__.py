"""What the gateway tells its operators about itself: Prometheus metrics, structured logs
with request ids (redacted of anything token-like or personal), optional tracing.
See ``docs/observability.md``."""
