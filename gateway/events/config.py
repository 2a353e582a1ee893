"""Shapes of the SSF stream management API on the wire, and the rules beyond shape.

Stream configuration after SSF 1.0 §8.1.1; status after §8.1.2; verification after
§8.1.4; the poll request and response after RFC 8936 §2.4 and §2.5.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from gateway.errors import InvalidRequest
from gateway.events.models import StreamStatus
from gateway.settings import Environment, Settings

# Where the API lives; the transmitter metadata advertises these (SSF 1.0 §7.1).
STREAM_PATH = "/v1/ssf/stream"
STATUS_PATH = "/v1/ssf/status"
VERIFY_PATH = "/v1/ssf/verify"
POLL_PATH = "/v1/ssf/poll"
DELIVERIES_PATH = "/v1/ssf/deliveries"

MAX_DESCRIPTION = 300
LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "::1"}
HEADER_VALUE = re.compile(r"^[\x20-\x7e]+$")  # visible ASCII and spaces: no CR/LF injection

EventURI = Annotated[str, StringConstraints(min_length=1, max_length=200)]
StreamId = Annotated[str, StringConstraints(min_length=1, max_length=64)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Delivery(Strict):
    method: str = Field(max_length=64)
    endpoint_url: str | None = Field(default=None, max_length=2000)
    authorization_header: str | None = Field(default=None, min_length=1, max_length=2048)


class StreamRequest(Strict):
    """The body of create (POST), update (PATCH) and replace (PUT)."""

    stream_id: StreamId | None = None
    iss: str | None = Field(default=None, max_length=2000)
    aud: str | list[str] | None = None
    events_supported: list[EventURI] | None = Field(default=None, max_length=50)
    events_requested: list[EventURI] | None = Field(default=None, max_length=50)
    events_delivered: list[EventURI] | None = Field(default=None, max_length=50)
    delivery: Delivery | None = None
    description: str | None = Field(default=None, max_length=4000)


class DeliveryView(BaseModel):
    method: str
    endpoint_url: str  # the receiver's secret authorization_header is never shown


class StreamConfig(BaseModel):
    stream_id: str
    iss: str
    aud: str
    events_supported: list[str]
    events_requested: list[str]
    events_delivered: list[str]
    delivery: DeliveryView
    description: str | None = None


class StatusRequest(Strict):
    stream_id: StreamId
    status: StreamStatus
    reason: str | None = Field(default=None, max_length=MAX_DESCRIPTION)


class StatusView(BaseModel):
    stream_id: str
    status: StreamStatus
    reason: str | None = None


class VerifyRequest(Strict):
    stream_id: StreamId
    state: str | None = Field(default=None, max_length=1024)


class SetError(Strict):
    err: str = Field(max_length=64)
    description: str = Field(default="", max_length=1000)


class PollRequest(Strict):
    """RFC 8936 §2.4: acknowledge, report errors, and ask for more, in one request."""

    maxEvents: int | None = Field(default=None, ge=0, le=1000)  # noqa: N815 - RFC 8936 name
    returnImmediately: bool = False  # noqa: N815 - RFC 8936 name
    ack: list[Annotated[str, StringConstraints(max_length=64)]] = Field(
        default_factory=list, max_length=1000
    )
    setErrs: dict[str, SetError] = Field(default_factory=dict, max_length=1000)  # noqa: N815


class PollResponse(BaseModel):
    sets: dict[str, str]
    moreAvailable: bool  # noqa: N815 - RFC 8936 name


class DeliverySummary(BaseModel):
    stream_id: str | None
    counts: dict[str, int]
    oldest_pending: dict[str, Any] | None
    dead: list[dict[str, Any]]


def check_event_uris(uris: list[str]) -> list[str]:
    """Each value is a URI; unknown URIs are kept in events_requested and ignored later."""
    for uri in uris:
        parts = urlsplit(uri)
        if not parts.scheme or any(ch.isspace() for ch in uri):
            raise InvalidRequest(f"events_requested: {uri[:60]!r} is not a URI")
    return list(dict.fromkeys(uris))


def check_push_endpoint(url: str | None, settings: Settings) -> str:
    """An absolute https URL; http only on loopback and outside production."""
    if not url:
        raise InvalidRequest("delivery.endpoint_url is required for push delivery")
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        raise InvalidRequest("delivery.endpoint_url is not a valid URL") from None
    if not host or any(ch.isspace() for ch in url):
        raise InvalidRequest("delivery.endpoint_url must be an absolute URL")
    if parts.scheme == "http":
        if settings.env is Environment.production or not _is_loopback(host):
            raise InvalidRequest(
                "delivery.endpoint_url must use https (http only for localhost outside production)"
            )
    elif parts.scheme != "https":
        raise InvalidRequest("delivery.endpoint_url must use https")
    if parts.fragment or url.endswith("#"):
        raise InvalidRequest("delivery.endpoint_url must not have a fragment")
    if parts.username is not None or parts.password is not None:
        raise InvalidRequest("delivery.endpoint_url must not carry credentials")
    return url


def check_header(value: str | None) -> str | None:
    if value is not None and not HEADER_VALUE.match(value):
        raise InvalidRequest("delivery.authorization_header must be printable ASCII")
    return value


def _is_loopback(host: str) -> bool:
    if host in LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
