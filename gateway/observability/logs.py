"""Log output: one JSON object per line (or a plain line for people), redacted, carrying
the request id.

Every line has ``timestamp`` (UTC, ISO 8601), ``level``, ``logger`` and ``message``; a
line written while serving a request also has ``request_id``, ``route`` (the template,
never the path) and ``client_id`` (the authenticated member, when known); the access
line adds ``method``, ``status`` and ``duration_ms``. Anything else a caller passes in
``extra`` is kept, under its own name. Message, fields and tracebacks go through
:func:`gateway.observability.redaction.redact` on the way out; a field named like a
secret (``code``, ``token``, ``sub``...) is dropped whole.

:func:`install` sets this up for a serving process (``accord serve``, each worker, the
ASGI factory); it is never done at import or by ``create_app``, so tests and embedders
keep their own logging. Libraries that log what the gateway handles are held at WARNING
whatever the level (:data:`QUIET`): SQLAlchemy logs statements with their parameters,
Authlib logs issued tokens, httpx and python-multipart log URLs and form fields.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

from gateway.observability.context import current
from gateway.observability.redaction import REDACTED, is_sensitive, redact, redact_value
from gateway.settings import Environment, LogFormat, Settings

QUIET: dict[str, int] = {
    "sqlalchemy": logging.WARNING,
    "authlib": logging.WARNING,
    "httpx": logging.WARNING,
    "httpcore": logging.WARNING,
    "multipart": logging.WARNING,
    "python_multipart": logging.WARNING,
}
# uvicorn's loggers pass their lines to ours; its access log is replaced by the request
# edge's own line (gateway.observability.requests), which never holds a query string.
UVICORN = ("uvicorn", "uvicorn.error", "uvicorn.asgi")
UVICORN_ACCESS = "uvicorn.access"

CONTEXT = ("request_id", "route", "client_id")
# What every LogRecord has; anything else on a record came in ``extra``.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "color_message",  # uvicorn's coloured copy of the message
}


def fields(record: logging.LogRecord, formatter: logging.Formatter) -> dict[str, Any]:
    """The record as a line's fields, redacted."""
    out: dict[str, Any] = {
        "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
        "level": record.levelname,
        "logger": record.name,
        "message": redact(record.getMessage()),
    }
    context = current()
    for name in CONTEXT:
        value = getattr(record, name, None)
        if value is None and context is not None:
            value = getattr(context, name)
        if value is not None:
            out[name] = redact(str(value))
    for key, value in vars(record).items():
        if key in _STANDARD or key in CONTEXT or key.startswith("_"):
            continue
        out[key] = REDACTED if is_sensitive(key) else redact_value(value)
    if record.exc_info:
        out["exception"] = redact(formatter.formatException(record.exc_info))
    elif record.exc_text:
        out["exception"] = redact(record.exc_text)
    if record.stack_info:
        out["stack"] = redact(formatter.formatStack(record.stack_info))
    return out


class JsonLines(logging.Formatter):
    """One JSON object per line."""

    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(fields(record, self), ensure_ascii=False, default=str)


class PlainLines(logging.Formatter):
    """``timestamp LEVEL logger [request id] message key=value ...`` for a terminal."""

    def format(self, record: logging.LogRecord) -> str:
        out = fields(record, self)
        head = f"{out.pop('timestamp')} {out.pop('level'):<7} {out.pop('logger')}"
        request_id = out.pop("request_id", None)
        if request_id is not None:
            head += f" [{request_id}]"
        exception = out.pop("exception", None)
        stack = out.pop("stack", None)
        line = " ".join([head, out.pop("message"), *(f"{k}={v}" for k, v in out.items())])
        return "\n".join(part for part in (line, exception, stack) if part)


class AccordHandler(logging.StreamHandler[TextIO]):
    """The serving process's one handler (told apart from others by its class)."""


def chosen_format(settings: Settings) -> LogFormat:
    """``auto`` is plain text in development, JSON everywhere else."""
    if settings.log_format is LogFormat.auto:
        return LogFormat.text if settings.env is Environment.development else LogFormat.json
    return settings.log_format


class Installed:
    """What :func:`install` changed, so :meth:`remove` can put it back (tests)."""

    def __init__(self, handler: AccordHandler, levels: dict[str, int]) -> None:
        self.handler = handler
        self.levels = levels

    def remove(self) -> None:
        logging.getLogger().removeHandler(self.handler)
        for name, level in self.levels.items():
            logging.getLogger(name or None).setLevel(level)


def install(level: str, form: LogFormat, stream: TextIO | None = None) -> Installed:
    """Route every log line of the process through one redacting handler at ``level``."""
    handler = AccordHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonLines() if form is LogFormat.json else PlainLines())
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, AccordHandler)]:
        root.removeHandler(old)
    threshold = logging.getLevelName(level.upper())
    names = ["", *QUIET, *UVICORN]
    levels = {name: logging.getLogger(name or None).level for name in names}
    root.addHandler(handler)
    root.setLevel(threshold)
    for name, floor in QUIET.items():
        logging.getLogger(name).setLevel(max(floor, threshold))
    for name in UVICORN:
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
        logger.setLevel(logging.NOTSET)
    access = logging.getLogger(UVICORN_ACCESS)
    access.handlers.clear()
    access.propagate = False
    return Installed(handler, levels)


def install_for(settings: Settings) -> Installed:
    return install(settings.log_level, chosen_format(settings))
