"""Which requests count against which buckets, and the answer past a limit.

- ``POST /token``, and (group ``oauth``, buckets of their own) ``POST /revoke`` and
  ``/par``: the client's bucket and the address's, together, in front of everything
  else (the express lane included), so a refused request is never read further. The
  client is who the request says it is (its ``Basic`` user, its ``client_assertion``'s
  ``iss``, or its ``client_id``), unverified: verifying would be the work the limit
  saves. So anyone may spend a client's allowance by naming it, within their own
  address's limit (docs/limits.md).
- ``/v1/challenges/…`` and ``POST /v1/sandbox/queries``: the address's bucket before
  the member authenticates (a flood of bad credentials never reaches the database),
  the member's bucket once it has (:func:`member_limit`: nobody else can spend it).

The address is the connection's peer as the server reports it (uvicorn takes it from
``X-Forwarded-For`` only for the proxies in ``FORWARDED_ALLOW_IPS``, 127.0.0.1 by
default); IPv6 peers count by their /64.

Past a limit: 429 in the problem format, ``Retry-After`` in whole seconds, and the
``RateLimit-Policy`` and ``RateLimit`` fields of draft-ietf-httpapi-ratelimit-headers,
which every counted response carries.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import ipaddress
import json
import math
from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qsl, unquote

from fastapi import Depends, Request
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.edge import runtime
from gateway.errors import CATALOG, RateLimited
from gateway.limits import content_length, read_body, replay_body, send_problem
from gateway.members.auth import member_of
from gateway.oauth.http import FORM, MAX_PARAMETERS, MAX_VALUE
from gateway.ratelimit.gcra import Check, Decision, Verdict
from gateway.ratelimit.policies import Group, Limits
from gateway.ratelimit.rates import Rate

# Exact path -> (method, group); and every path of the challenge API, any method.
COUNTED: dict[str, tuple[str, Group]] = {
    "/token": ("POST", "token"),
    "/revoke": ("POST", "oauth"),
    "/par": ("POST", "oauth"),
    "/v1/sandbox/queries": ("POST", "sandbox"),
}
NAMED: frozenset[Group] = frozenset({"token", "oauth"})  # the client is who the form says
CHALLENGES = "/v1/challenges/"
STATE = "accord.ratelimit"  # in scope["state"]: the decisions the response reports
NO_STORE = ("Cache-Control", "no-store")


def group_of(scope: Scope) -> Group | None:
    path: str = scope.get("path", "")
    if path.startswith(CHALLENGES):
        return "challenge"
    method, group = COUNTED.get(path, ("", None))
    return group if scope["method"] == method else None


class RateLimits:
    """ASGI middleware: count the request against its buckets; refuse it past a limit."""

    def __init__(self, app: ASGIApp, limits: Limits, max_bytes: int) -> None:
        self.app = app
        self.limits = limits
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        group = group_of(scope) if scope["type"] == "http" else None
        policy = self.limits.policies.get(group) if group is not None else None
        if group is None or policy is None:
            await self.app(scope, receive, send)
            return
        checks = []
        if policy.ip is not None:
            checks.append(_check(group, "ip", peer(scope), policy.ip))
        if group in NAMED and policy.client is not None:
            read = await self._named_client(scope, receive)
            if read is None:  # the client went away
                return
            client, receive = read
            if client is not None:
                checks.append(_check(group, "client", client, policy.client))
        verdict = await self.limits.limiter.hit(checks)
        if not verdict.allowed:
            headers = [*refusal_headers(verdict), *report(verdict.refusing)]
            await send_problem(send, CATALOG[RateLimited], describe(verdict), headers)
            return
        scope.setdefault("state", {}).setdefault(STATE, []).extend(verdict.decisions)
        await self.app(scope, receive, _reporting(scope, send))

    async def _named_client(
        self, scope: Scope, receive: Receive
    ) -> tuple[str | None, Receive] | None:
        """The client an OAuth request names, and ``receive`` as if nothing was read."""
        headers = Headers(scope=scope)
        client = basic_user(headers.get("authorization", ""))
        if client is not None:
            return client, receive
        media = headers.get("content-type", "").split(";")[0].strip().lower()
        declared = content_length(scope)
        if media != FORM or (declared is not None and declared > self.max_bytes):
            return None, receive  # refused further in; the address's bucket counted it
        read = await read_body(receive, self.max_bytes)
        if read is None:
            return None
        body, complete = read
        replay = replay_body(body, receive, more=not complete)
        return (form_client(body) if complete else None), replay


def member_limit(group: Group) -> Any:
    """A route dependency: count the authenticated member against its bucket."""

    async def limit_member(request: Request) -> None:
        limits = runtime(request).limits
        policy = limits.policies.get(group)
        rate = policy.client if policy is not None else None
        if rate is None:
            return
        check = _check(group, "client", member_of(request).client_id, rate)
        verdict = await limits.limiter.hit([check])
        request.scope.setdefault("state", {}).setdefault(STATE, []).extend(verdict.decisions)
        if not verdict.allowed:
            raise RateLimited(describe(verdict), dict(refusal_headers(verdict)))

    return Depends(limit_member)


@functools.lru_cache(maxsize=4096)
def _check(group: Group, scope: str, who: str, rate: Rate) -> Check:
    """The same few callers ask again and again: their checks are made once."""
    return Check(f"{group}:{scope}:{who}", rate, f"{group}-{scope}")


# --- who is asking ----------------------------------------------------------------


def peer(scope: Scope) -> str:
    """The bucket of the connection's address: IPv4 as is, IPv6 by its /64."""
    client = scope.get("client")
    return _bucket_of_host(str(client[0]) if client else "unknown")


@functools.lru_cache(maxsize=4096)
def _bucket_of_host(host: str) -> str:
    """Parsed once per address (``ipaddress`` takes microseconds a request)."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return bucket_id(host)  # a Unix socket, a test client
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        network = ipaddress.IPv6Network((address, 64), strict=False)
        return str(network)
    return str(address)


def basic_user(authorization: str) -> str | None:
    """The client id of ``Authorization: Basic`` (RFC 6749 §2.3.1), unverified."""
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        raw = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, _ = raw.partition(":")
    return bucket_id(unquote(user)) if sep else None


def form_client(body: bytes) -> str | None:
    """The client a token request's form names: its assertion's ``iss`` (RFC 7523
    §3), else its ``client_id``; unverified."""
    try:
        pairs = parse_qsl(body.decode("utf-8"), max_num_fields=MAX_PARAMETERS)
    except (UnicodeDecodeError, ValueError):
        return None
    form = dict(pairs)
    assertion = form.get("client_assertion")
    if assertion:
        return assertion_issuer(assertion)
    client_id = form.get("client_id")
    return bucket_id(client_id) if client_id else None


def assertion_issuer(token: str) -> str | None:
    parts = token.split(".")
    if len(token) > MAX_VALUE or len(parts) != 3:
        return None
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (binascii.Error, ValueError):
        return None
    issuer = claims.get("iss") if isinstance(claims, dict) else None
    return bucket_id(issuer) if isinstance(issuer, str) and issuer else None


def bucket_id(raw: str) -> str:
    """An identity as a key: itself when short and printable, else its digest."""
    if len(raw) <= 128 and raw.isprintable():
        return raw
    return "sha256:" + hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()[:32]


# --- what the response says -------------------------------------------------------


def describe(verdict: Verdict) -> str:
    whose = sorted({d.check.name.rsplit("-", 1)[1] for d in verdict.refusing})
    who = " and ".join("this client" if w == "client" else "this address" for w in whose)
    return f"Too many requests from {who}; retry after {retry_after(verdict)} s."


def retry_after(verdict: Verdict) -> int:
    return max(1, math.ceil(verdict.retry_after))


def refusal_headers(verdict: Verdict) -> list[tuple[str, str]]:
    return [("Retry-After", str(retry_after(verdict))), NO_STORE]


def report(decisions: Sequence[Decision]) -> list[tuple[str, str]]:
    """``RateLimit-Policy`` (quota ``q`` per window ``w`` s) and ``RateLimit`` (``r`` left,
    full again in ``t`` s) for each bucket, as draft-ietf-httpapi-ratelimit-headers."""
    if not decisions:
        return []
    policies = _policies(tuple((d.check.name, d.check.rate) for d in decisions))
    limits = ", ".join(
        f'"{d.check.name}";r={d.remaining};t={math.ceil(d.reset_after)}' for d in decisions
    )
    return [("RateLimit-Policy", policies), ("RateLimit", limits)]


@functools.lru_cache(maxsize=64)
def _policies(buckets: tuple[tuple[str, Rate], ...]) -> str:
    return ", ".join(f'"{name}";q={rate.burst};w={rate.window_seconds}' for name, rate in buckets)


def _reporting(scope: Scope, send: Send) -> Send:
    async def send_reported(message: Message) -> None:
        if message["type"] == "http.response.start":
            decisions: list[Decision] = scope.get("state", {}).get(STATE, [])
            fields = [(k.lower().encode(), v.encode()) for k, v in report(decisions)]
            if fields:
                message = {**message, "headers": [*message.get("headers", []), *fields]}
        await send(message)

    return send_reported
