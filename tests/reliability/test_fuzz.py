"""Schemathesis against the gateway's own OpenAPI document (in process, over ASGI).

Every operation of ``/openapi.json`` gets EXAMPLES generated requests that fit its
schema and EXAMPLES that do not (schemathesis' positive and negative modes), sent
with the credential the operation takes (the operator's bearer token, a platform's or
a brand's Basic credentials, none for public and browser pages) against a gateway
with a platform, a brand, a notice and a few consents, so that requests get past
authentication into the services. Checks:

- not a server error: no 5xx, and no exception out of the app;
- response schema conformance: a response whose status the document declares
  matches the declared schema;
- status code conformance: every status answered is declared (each API operation
  declares ``4XX`` and ``503`` as problem documents, gateway/openapi.py);
- content type conformance: the declared media type is the one answered (HTML for
  the browser pages);
- every API error is a problem document: any 4xx is ``application/problem+json``
  with ``type``, ``title``, ``status`` (the response's) and the OAuth ``error``
  member, as gateway/errors.py promises (the browser pages answer errors as HTML
  pages instead).

``ACCORD_TEST_FUZZ_EXAMPLES`` raises the count for a deeper run. The generation is
derandomised, so a CI failure reproduces; ``ACCORD_TEST_FUZZ_SEED`` explores other
cases (a failure then reproduces with the same seed and count).
"""

from __future__ import annotations

import base64
import json
import os
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import hypothesis
import hypothesis.errors
import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase
from schemathesis import Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.core.result import Err
from schemathesis.core.transport import Response
from schemathesis.python.asgi import shutdown_lifespans
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from consent.taxonomy import DataStandard
from gateway import migrate
from gateway.app import create_app
from gateway.db import make_engine
from gateway.runtime import Runtime
from sdk.consents import NewConsent
from tests.conftest import make_settings
from tests.gateway.members.cases import brand_spec, platform_spec
from tests.reliability.alliance import CATEGORIES, NOTICE_ID, PURPOSE
from tests.reliability.figures import Figures

pytestmark = pytest.mark.slow

EXAMPLES = int(os.environ.get("ACCORD_TEST_FUZZ_EXAMPLES", "8"))
SEED = os.environ.get("ACCORD_TEST_FUZZ_SEED")  # set: explore other cases than CI's
MODES = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
STRICT = [
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
    content_type_conformance,
]
PROBLEM_JSON = "application/problem+json"

OPERATOR = ("/v1/admin/", "/v1/operator/", "/metrics")
BRAND = ("/v1/views", "/v1/sandbox/", "/token", "/introspect", "/revoke", "/par")
PLATFORM = ("/v1/",)  # every other member API: consents, streams, rights, challenges, ...
PUBLIC = ("/v1/schema", "/v1/notices/", "/v1/log/")
BROWSER = ("/authorize", "/signin/", "/consent", "/logout", "/center")  # HTML pages


@pytest.fixture
def seeded(tmp_path: Path, standard: DataStandard) -> Iterator[tuple[FastAPI, dict[str, str]]]:
    """The app on a fresh SQLite database with members and consents; the
    Authorization header to send, by credential."""
    settings = make_settings(tmp_path, rate_limits_enabled=False)
    engine = make_engine(settings.database_url)
    migrate.upgrade(engine)
    runtime = Runtime.build(settings, engine=engine, standard=standard)
    app = create_app(settings, runtime=runtime)
    operator = {"Authorization": f"Bearer {settings.operator_token.get_secret_value()}"}
    client = TestClient(app)  # no lifespan: schemathesis starts the app's own

    def register(kind: str, spec: dict[str, Any]) -> tuple[str, str]:
        made = client.post(f"/v1/admin/{kind}", json=spec, headers=operator)
        assert made.status_code == 201, made.text
        return made.json()["client_id"], made.json()["client_secret"]

    platform = register("platforms", platform_spec(events_endpoint=None))
    brand = register("brands", brand_spec(purposes=["identity.sso", "marketing.brand_view"]))
    notice = client.post(
        f"/v1/admin/notices/{NOTICE_ID}/versions",
        json={"text": "Fuzzing notice.", "language": "en"},
        headers=operator,
    )
    assert notice.status_code == 201, notice.text
    for n in range(3):
        body = NewConsent(f"fuzz-{n}", PURPOSE, CATEGORIES, NOTICE_ID, 1).body()
        recorded = client.post("/v1/consents", json=body, auth=platform)
        assert recorded.status_code == 201, recorded.text
    headers = {
        "operator": operator["Authorization"],
        "platform": basic(*platform),
        "brand": basic(*brand),
    }
    try:
        yield app, headers
    finally:
        shutdown_lifespans()  # the app's lifespan, which schemathesis keeps running
        runtime.close()


def basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def credential(path: str) -> str | None:
    if path.startswith(OPERATOR):
        return "operator"
    if path.startswith(BRAND):
        return "brand"
    if path.startswith(PUBLIC):
        return None
    if path.startswith(PLATFORM):
        return "platform"
    return None  # discovery, health, the sign-in and consent-center pages


def problem_failure(path: str, response: Response) -> str | None:
    """What is wrong with an error response, if anything: an API answers a problem
    document, a browser page an HTML page."""
    if response.status_code < 400:
        return None
    media_type = (response.headers.get("content-type") or [""])[0].split(";")[0].strip()
    if path.startswith(BROWSER):
        return None if media_type == "text/html" else f"{response.status_code} as {media_type}"
    if media_type != PROBLEM_JSON:
        return f"{response.status_code} as {media_type or 'no content type'}"
    try:
        body = json.loads(response.content)
    except ValueError:
        return f"{response.status_code}: not JSON"
    missing = [k for k in ("type", "title", "status", "error") if k not in body]
    if missing or body["status"] != response.status_code:
        return f"{response.status_code}: problem members {missing or 'status differs'}"
    return None


class Run:
    """What the fuzzing sent and found, by operation."""

    def __init__(self, headers: dict[str, str]) -> None:
        self.headers = headers
        self.cases = 0
        self.statuses: Counter[int] = Counter()
        self.failures: Counter[str] = Counter()
        self.examples: dict[str, str] = {}

    def case(self, case: Case[Any]) -> None:
        self.cases += 1
        label = case.operation.label
        who = credential(case.operation.path)
        headers = {"Authorization": self.headers[who]} if who else None
        try:
            response = case.call(headers=headers)
        except Exception as exc:  # the app raised instead of answering
            self._fail(label, f"exception {type(exc).__name__}", case)
            return
        self.statuses[response.status_code] += 1
        try:
            case.validate_response(response, checks=STRICT, headers=headers)
        except FailureGroup as group:
            for failure in group.exceptions:
                self._fail(label, f"{failure.title}: {response.status_code}", case)
        problem = problem_failure(case.operation.path, response)
        if problem is not None:
            self._fail(label, f"error not as promised: {problem}", case)

    def _fail(self, label: str, what: str, case: Case[Any]) -> None:
        key = f"{label} | {what}"
        self.failures[key] += 1
        self.examples.setdefault(key, case.as_curl_command())


def fuzz(operation: Any, mode: GenerationMode, run: Callable[[Case[Any]], None]) -> bool:
    """Run EXAMPLES cases; False when the mode has nothing to generate (an operation
    without parameters or body cannot be sent invalid data)."""

    @hypothesis.settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=SEED is None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @hypothesis.given(case=operation.as_strategy(generation_mode=mode))
    def each(case: Case[Any]) -> None:
        run(case)

    if SEED is not None:
        each = hypothesis.seed(int(SEED))(each)

    try:
        each()
    except hypothesis.errors.Unsatisfiable:
        return False
    return True


def test_fuzzing_the_openapi_document_finds_no_server_error_and_no_schema_mismatch(
    seeded: tuple[FastAPI, dict[str, str]], figures: Figures
) -> None:
    app, headers = seeded
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    run = Run(headers)
    operations = 0
    for result in schema.get_all_operations():
        if isinstance(result, Err):  # the document itself is broken
            raise result.err()
        operation = result.ok()
        operations += 1
        for mode in MODES:
            if not fuzz(operation, mode, run.case):
                figures.add(f"operations_without_{mode.value}_cases")
    figures.add("operations", operations)
    figures.add("fuzz_cases", run.cases)
    figures.add("requests_sent", run.cases)
    figures.add("server_errors", sum(n for s, n in run.statuses.items() if s >= 500))
    figures.add("failures", sum(run.failures.values()))
    figures.note("statuses", dict(sorted(run.statuses.items())))
    report = [f"{n} x {key}\n    {run.examples[key]}" for key, n in run.failures.most_common()]
    assert not run.failures, "\n".join(report[:30])
