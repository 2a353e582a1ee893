"""Gateway settings: one pydantic-settings class, environment prefix ``ACCORD_``.

Settings are built once (by the CLI or the ASGI factory) and injected; nothing here
reads the environment at import time. Unsafe defaults are refused outside development.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import Any, Self
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from gateway.ratelimit.rates import parse_policy

ENV_PREFIX = "ACCORD_"
MIN_SECRET_LENGTH = 32
# Variables with the prefix that are not settings: the test harness's own.
NOT_SETTINGS_PREFIXES = ("ACCORD_TEST_",)

# Development-only values. They are public (they are in this file), so any
# environment other than development refuses to start with them.
DEV_SECRETS: dict[str, str] = {
    "secret_key": "development-only-secret-key-do-not-deploy-000000",
    "pairwise_key": "development-only-pairwise-key-do-not-deploy-0000",
    "hash_key": "development-only-hash-key-do-not-deploy-000000000",
    "operator_token": "development-only-operator-token-do-not-deploy-00",
}


class Environment(StrEnum):
    development = "development"
    test = "test"
    production = "production"


class LogFormat(StrEnum):
    auto = "auto"  # text in development, JSON elsewhere
    json = "json"
    text = "text"


class SettingsError(Exception):
    """Settings could not be built; ``str(self)`` names every offending variable."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid configuration:\n  " + "\n  ".join(problems))


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        extra="forbid",
        frozen=True,
        validate_default=True,
    )

    env: Environment = Field(
        default=Environment.production,
        description="development relaxes secret checks; test and production do not",
    )
    database_url: str = Field(
        default="sqlite:///./var/accord.db",
        description="SQLAlchemy URL: sqlite:///path or postgresql+psycopg://user@host/db",
    )
    issuer: str = Field(
        default="http://127.0.0.1:8000",
        description="public base URL of the gateway (the OpenID Provider issuer)",
    )
    key_dir: Path = Field(default=Path("./var/keys"), description="signing keys directory")
    host: str = Field(default="127.0.0.1", description="interface `accord serve` binds")
    port: int = Field(default=8000, ge=1, le=65535, description="port `accord serve` binds")
    max_body_bytes: int = Field(
        default=1_048_576, ge=1024, description="largest request body accepted, in bytes"
    )
    sandbox_min_group: int = Field(
        default=50,
        ge=1,
        description="groups of the sandbox whose noisy count is under this are suppressed",
    )
    max_attribute_bytes: int = Field(
        default=33_554_432,
        ge=1024,
        description="largest attribute batch accepted (POST /v1/attributes), in bytes",
    )
    max_model_bytes: int = Field(
        default=67_108_864,
        ge=1024,
        description="largest model registration accepted (POST /v1/admin/models), in bytes",
    )
    secret_key: SecretStr = Field(
        default=SecretStr(DEV_SECRETS["secret_key"]),
        description="signs sessions and CSRF tokens",
    )
    pairwise_key: SecretStr = Field(
        default=SecretStr(DEV_SECRETS["pairwise_key"]),
        description="HMAC key of pairwise subjects; never rotate",
    )
    hash_key: SecretStr = Field(
        default=SecretStr(DEV_SECRETS["hash_key"]),
        description="keyed hash of client secrets, codes and refresh tokens at rest",
    )
    operator_token: SecretStr = Field(
        default=SecretStr(DEV_SECRETS["operator_token"]),
        description="bearer credential of the operator admin API",
    )
    events_interval: float = Field(
        default=1.0, ge=0, le=3600, description="seconds between SET push runs; 0 turns it off"
    )
    events_max_attempts: int = Field(
        default=12, ge=1, le=100, description="push attempts per SET before it is dead-lettered"
    )
    log_interval: float = Field(
        default=0.2,
        ge=0,
        le=60,
        description="seconds between consent-log sequencer runs; 0 turns it off",
    )
    log_level: str = Field(default="info", pattern="^(debug|info|warning|error)$")
    log_format: LogFormat = Field(
        default=LogFormat.auto,
        description="json (one object per line), text, or auto: text in development, json else",
    )
    access_log: bool = Field(
        default=True,
        description="one line per request (method, route template, status, duration), at info",
    )
    otel_endpoint: str | None = Field(
        default=None,
        description="OTLP/HTTP base URL of an OpenTelemetry collector: traces each request "
        "(needs the tracing extra); unset: OTEL_EXPORTER_OTLP_ENDPOINT decides",
    )
    challenge_ttl: int = Field(
        default=600,
        ge=30,
        le=3600,
        description="seconds a sign-in or link challenge may take, from the chooser to the return",
    )
    db_pool_size: int = Field(
        default=20,
        ge=1,
        le=200,
        description="database connections each worker keeps open (a request holds one)",
    )
    max_concurrent_requests: int = Field(
        default=64,
        ge=1,
        le=1000,
        description="requests a worker handles at once (its threads are sized above it); "
        "more wait in arrival order",
    )
    queue_wait: float = Field(
        default=10.0,
        ge=0,
        le=120,
        description="seconds a request past max_concurrent_requests may wait for its turn "
        "before a 503 with Retry-After",
    )
    change_poll: float = Field(
        default=0.1,
        ge=0,
        le=0.5,  # a worker trusts its memory for 1 s after a read (gateway.changes.MAX_LAG)
        description="seconds between reads of the change counter: how soon a worker sees a "
        "revocation, a member's update or a new notice version made by another; 0 answers "
        "nothing from memory",
    )
    salt_grace_days: int = Field(
        default=30,
        ge=1,
        le=365,
        description="days a superseded alliance salt still counts for link hints",
    )
    access_token_ttl: int = Field(
        default=900, ge=60, le=86400, description="seconds an access token (RFC 9068 JWT) lives"
    )
    id_token_ttl: int = Field(default=600, ge=60, le=86400, description="seconds an ID token lives")
    refresh_token_ttl: int = Field(
        default=2_592_000,
        ge=300,
        le=31_536_000,
        description="seconds a refresh token lives unless rotated first (30 days)",
    )
    session_ttl: int = Field(
        default=28_800, ge=300, le=2_592_000, description="seconds a sign-in session lasts"
    )
    code_ttl: int = Field(
        default=60, ge=10, le=600, description="seconds an authorization code may wait"
    )
    rate_limits_enabled: bool = Field(
        default=True,
        description="rate limits on the token endpoint and the other client-authenticated "
        "OAuth endpoints, the challenge API and sandbox queries; false turns them all off "
        "(docs/limits.md)",
    )
    rate_limit_token: str = Field(
        default="client 600/minute, ip 1200/minute",
        description="POST /token, per client (as the request names it) and per IP address",
    )
    rate_limit_oauth: str = Field(
        default="client 600/minute, ip 1200/minute",
        description="POST /revoke and /par, per client (as the request names it) and per "
        "IP address",
    )
    rate_limit_challenge: str = Field(
        default="client 600/minute, ip 1200/minute",
        description="the challenge API (/v1/challenges/...), per platform and per IP address",
    )
    rate_limit_sandbox: str = Field(
        default="client 60/minute, ip 120/minute",
        description="POST /v1/sandbox/queries, per brand and per IP address",
    )
    redis_url: str | None = Field(
        default=None,
        description="redis:// URL of the store every worker shares for rate limits; "
        "unset: each worker process limits alone",
    )

    @field_validator(
        "rate_limit_token", "rate_limit_oauth", "rate_limit_challenge", "rate_limit_sandbox"
    )
    @classmethod
    def _policy(cls, value: str) -> str:
        parse_policy(value)  # its ValueError names the part at fault
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str | None) -> str | None:
        if value is not None and urlsplit(value).scheme not in {"redis", "rediss", "unix"}:
            raise ValueError("must start with redis://, rediss:// or unix://")
        return value

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str) -> str:
        scheme = value.split(":", 1)[0]
        if scheme not in {"sqlite", "postgresql", "postgresql+psycopg"}:
            raise ValueError("must start with sqlite:// or postgresql+psycopg://")
        return value

    @field_validator("otel_endpoint")
    @classmethod
    def _otel_endpoint(cls, value: str | None) -> str | None:
        if value is not None:
            parts = urlsplit(value)
            if parts.scheme not in {"http", "https"} or not parts.hostname:
                raise ValueError("must be an absolute http(s) URL")
        return value

    @field_validator("issuer")
    @classmethod
    def _issuer_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise ValueError("must be an absolute http(s) URL")
        if parts.query or parts.fragment:
            # OIDC Discovery 1.0 §3: the issuer has no query or fragment.
            raise ValueError("must not have a query or fragment")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _refuse_unsafe_defaults(self) -> Self:
        if self.env is Environment.development:
            return self
        problems: list[str] = []
        for name, default in DEV_SECRETS.items():
            value: SecretStr = getattr(self, name)
            var = ENV_PREFIX + name.upper()
            if value.get_secret_value() == default:
                problems.append(f"{var} uses the development default; set a real secret")
            elif len(value.get_secret_value()) < MIN_SECRET_LENGTH:
                problems.append(f"{var} must be at least {MIN_SECRET_LENGTH} characters")
        if self.env is Environment.production and not self.issuer.startswith("https://"):
            problems.append(f"{ENV_PREFIX}ISSUER must be https in production")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def load_settings(environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Build settings from the environment (plus overrides), naming each bad variable.

    An ``ACCORD_`` variable that is not a setting is refused: a misspelt
    ``ACCORD_DATABSE_URL`` must not silently leave the SQLite default in place.
    """
    environ = os.environ if environ is None else environ
    known = {ENV_PREFIX + name.upper() for name in Settings.model_fields}
    unknown = sorted(
        name
        for name in environ
        if name.upper().startswith(ENV_PREFIX)
        and name.upper() not in known
        and not name.upper().startswith(NOT_SETTINGS_PREFIXES)
    )
    problems = [_unknown(name, known) for name in unknown]
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        problems += describe(exc)
    if problems:
        raise SettingsError(problems)
    return settings


def _unknown(name: str, known: set[str]) -> str:
    # Compare what follows the prefix: the shared prefix would make everything look close.
    suffixes = sorted(k.removeprefix(ENV_PREFIX) for k in known)
    close = difflib.get_close_matches(name.upper().removeprefix(ENV_PREFIX), suffixes, 1, 0.7)
    hint = f" (did you mean {ENV_PREFIX}{close[0]}?)" if close else ""
    return f"{name}: not an Accord setting{hint}"


def describe(exc: ValidationError) -> list[str]:
    problems = []
    for error in exc.errors(include_url=False, include_input=False):
        loc = error.get("loc", ())
        if loc:
            var = ENV_PREFIX + str(loc[0]).upper()
            problems.append(f"{var}: {error['msg']}")
        else:
            # Model-level checks already name their variables.
            problems.append(str(error["msg"]).removeprefix("Value error, "))
    return problems
