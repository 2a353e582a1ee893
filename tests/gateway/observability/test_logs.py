"""Log lines: JSON or text, the request's context on each, and nothing token-like or
personal in them, whoever wrote the message."""

from __future__ import annotations

import io
import json
import logging
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.observability import logs
from gateway.observability.context import RequestContext, enter, leave
from gateway.observability.redaction import redact
from gateway.settings import Environment, LogFormat
from tests.conftest import make_settings

JWT = "eyJhbGciOiJFUzI1NiIsImtpZCI6IjEifQ.eyJzdWIiOiJwZXJzb24ifQ.c2lnbmF0dXJlLWJ5dGVz"
OPAQUE = secrets.token_urlsafe(32)  # a refresh token, a client secret, a pairwise sub


@pytest.mark.parametrize(
    ("text", "gone"),
    [
        pytest.param(f"token {JWT} issued", [JWT, "eyJ"], id="jwt"),
        pytest.param("Authorization: Bearer abc.def-ghi", ["abc.def-ghi"], id="bearer"),
        pytest.param("(b'authorization', b'Basic dXNlcjpwYXNz')", ["dXNlcjpwYXNz"], id="basic"),
        pytest.param("GET /cb?code=Sp1xAbc&state=s", ["Sp1xAbc"], id="code-in-query"),
        pytest.param(f'{{"refresh_token": "{OPAQUE}"}}', [OPAQUE], id="json"),
        pytest.param(f"{{'client_secret': '{OPAQUE}'}}", [OPAQUE], id="repr"),
        pytest.param("client_assertion=xyz.abc.def&x=1", ["xyz.abc.def"], id="assertion"),
        pytest.param("id_token_hint=hint-123", ["hint-123"], id="id-token-hint"),
        pytest.param("/signin?login_challenge=ch-42", ["ch-42"], id="login-challenge"),
        pytest.param("code_verifier=v-42 verifier: v-43", ["v-42", "v-43"], id="verifier"),
        pytest.param("account_id=u-1001, sub=abc", ["u-1001", "abc"], id="identifiers"),
        pytest.param("write to jane.roe+x@example.com", ["jane.roe+x@example.com"], id="email"),
        pytest.param("call +86 138 0013 8000", ["138 0013 8000"], id="phone-intl"),
        pytest.param("call 13800138000 now", ["13800138000"], id="phone-cn"),
        pytest.param("call (555) 123-4567", ["123-4567"], id="phone-us"),
        pytest.param(f"unknown value {OPAQUE}", [OPAQUE], id="random"),
    ],
)
def test_what_looks_like_a_secret_or_a_contact_is_cut_out(text: str, gone: list[str]) -> None:
    out = redact(text)
    for part in gone:
        assert part not in out


@pytest.mark.parametrize(
    "text",
    [
        "GET /v1/views/{sub} 200",
        "status_code=200 x-code=7",
        "2026-05-01 12:00:00.123 took 12.5 ms at 127.0.0.1:8000",
        "request 0123456789abcdef0123456789abcdef record 123e4567-e89b-12d3-a456-426614174000",
        'File "/work/main/.venv/lib/python3.11/site-packages/x.py", line 63, in __call__',
        "SET mK3x_jti-9dQ2bYtq0w7Pzr1a8vLnCeSu dead-lettered: HTTP 503",
    ],
)
def test_what_is_needed_to_read_a_line_stays(text: str) -> None:
    assert redact(text) == text


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    out = io.StringIO()
    installed = logs.install("debug", LogFormat.json, out)
    try:
        yield out
    finally:
        installed.remove()


def _lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_json_line_carries_the_request_and_drops_secret_fields(stream: io.StringIO) -> None:
    token = enter(RequestContext("req-1", "GET", route="/v1/views/{sub}", client_id="brand_x"))
    try:
        logging.getLogger("accord.test").info(
            "asked by %s", "jane@example.com", extra={"code": "c-1", "note": f"Bearer {OPAQUE}"}
        )
    finally:
        leave(token)
    logging.getLogger("accord.test").warning("outside a request")
    inside, outside = _lines(stream)
    assert inside["request_id"] == "req-1" and inside["route"] == "/v1/views/{sub}"
    assert inside["client_id"] == "brand_x" and inside["level"] == "INFO"
    assert inside["logger"] == "accord.test" and inside["message"] == "asked by [email]"
    assert inside["code"] == "[redacted]" and OPAQUE not in str(inside["note"])
    assert str(inside["timestamp"]).endswith("+00:00")
    assert "request_id" not in outside


def test_a_traceback_is_redacted_too(stream: io.StringIO) -> None:
    try:
        raise ValueError(f"bad refresh_token={OPAQUE} for jane@example.com")
    except ValueError:
        logging.getLogger("accord.test").exception("failed")
    (line,) = _lines(stream)
    assert "ValueError" in str(line["exception"])
    assert OPAQUE not in str(line) and "jane@example.com" not in str(line)


def test_libraries_that_log_what_the_gateway_handles_stay_at_warning(
    stream: io.StringIO,
) -> None:
    for name in ("sqlalchemy.engine.Engine", "authlib.oauth2.rfc6749", "httpx", "multipart"):
        assert not logging.getLogger(name).isEnabledFor(logging.INFO), name
    assert logging.getLogger("accord.anything").isEnabledFor(logging.DEBUG)
    assert logging.getLogger("uvicorn.error").isEnabledFor(logging.DEBUG)
    access = logging.getLogger(logs.UVICORN_ACCESS)
    assert access.propagate is False  # uvicorn's access lines reach no handler of ours


def test_authlib_at_debug_would_still_not_leak_a_token(stream: io.StringIO) -> None:
    """Were its logger opened, Authlib's own "Issue token" line is redacted on the way out."""
    authlib = logging.getLogger("authlib.oauth2.rfc6749.grants.authorization_code")
    authlib.setLevel(logging.DEBUG)
    try:
        issued = {"access_token": JWT, "refresh_token": OPAQUE, "id_token": JWT}
        authlib.debug("Issue token %r to %r", issued, "<Client plat_x>")
    finally:
        authlib.setLevel(logging.NOTSET)
    assert JWT not in stream.getvalue() and OPAQUE not in stream.getvalue()
    assert "Issue token" in stream.getvalue()


def test_text_lines_for_people(tmp_path: Path) -> None:
    out = io.StringIO()
    installed = logs.install("info", LogFormat.text, out)
    token = enter(RequestContext("req-9", "POST"))
    try:
        logging.getLogger("accord.access").info(
            "POST /token 200", extra={"status": 200, "client_secret": "s"}
        )
    finally:
        leave(token)
        installed.remove()
    line = out.getvalue().strip()
    assert "INFO    accord.access [req-9] POST /token 200" in line
    assert "status=200" in line and "client_secret=[redacted]" in line


def test_auto_is_text_in_development_and_json_elsewhere(tmp_path: Path) -> None:
    assert logs.chosen_format(make_settings(tmp_path)) is LogFormat.json
    development = make_settings(tmp_path, env=Environment.development)
    assert logs.chosen_format(development) is LogFormat.text
    chosen = make_settings(tmp_path, env=Environment.development, log_format=LogFormat.json)
    assert logs.chosen_format(chosen) is LogFormat.json


def test_installing_again_replaces_the_handler(stream: io.StringIO) -> None:
    again = logs.install("info", LogFormat.json, io.StringIO())
    try:
        ours = [h for h in logging.getLogger().handlers if isinstance(h, logs.AccordHandler)]
        assert ours == [again.handler]
    finally:
        again.remove()
