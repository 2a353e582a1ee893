"""Sync and async clients over httpx. Both run the same :class:`~sdk.calls.Call`s."""

from __future__ import annotations

from types import TracebackType
from typing import Any, Self, TypedDict, TypeVar, Unpack

import httpx

from sdk.auth import ClientAuth
from sdk.calls import Call, Request, Steps
from sdk.errors import AccordError, ResponseError, TransportError, error_from_response

T = TypeVar("T")
VERSION = "0.1.0"
USER_AGENT = f"accord-sdk/{VERSION}"


class _Base:
    """What both clients share: configuration, request building, response handling."""

    def __init__(
        self,
        issuer: str,
        *,
        auth: ClientAuth | None = None,
        timeout: float = 10.0,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.issuer = issuer.rstrip("/")
        self.auth = auth
        self.timeout = timeout
        self._headers = {"User-Agent": USER_AGENT, "Accept": "application/json", **(headers or {})}

    def _http_request(
        self, client: httpx.Client | httpx.AsyncClient, req: Request
    ) -> httpx.Request:
        if req.client_auth:
            if self.auth is None:
                raise ValueError("this call needs client authentication: pass auth=")
            req = self.auth.apply(req, audience=self.issuer)
        if req.member_auth:
            if self.auth is None:
                raise ValueError("this call needs the member's credential: pass auth=")
            req = self.auth.authorize(req, audience=self.issuer)
        return client.build_request(
            req.method,
            self.issuer + req.path,
            params=req.params,
            json=req.json,
            data=dict(req.form) if req.form is not None else None,
            headers={**self._headers, **req.headers},
        )

    @staticmethod
    def _finish(call: Call[T], response: httpx.Response) -> T:
        if response.status_code >= 300 and response.status_code not in call.ok_statuses:
            raise error_from_response(response)
        try:
            return call.parse(response)
        except (ValueError, KeyError, TypeError) as exc:
            raise ResponseError(f"unreadable response to {call.request.path}: {exc}") from exc


class Options(TypedDict, total=False):
    """Options both clients take besides the issuer and their transport."""

    auth: ClientAuth | None
    timeout: float
    headers: dict[str, str] | None


def _unreachable(call: Call[Any], exc: httpx.TransportError) -> TransportError:
    return TransportError(f"{call.request.method} {call.request.path}: {exc}")


class SyncClient(_Base):
    def __init__(
        self,
        issuer: str,
        *,
        transport: httpx.BaseTransport | None = None,
        **options: Unpack[Options],
    ) -> None:
        super().__init__(issuer, **options)
        self._http = httpx.Client(transport=transport, timeout=self.timeout)

    def _execute(self, call: Call[T]) -> T:
        try:
            response = self._http.send(self._http_request(self._http, call.request))
            response.read()
        except httpx.TransportError as exc:
            raise _unreachable(call, exc) from exc
        return self._finish(call, response)

    def _run(self, steps: Steps[T]) -> T:
        """A multi-call operation, to its end."""
        try:
            call = next(steps)
            while True:
                try:
                    result = self._execute(call)
                except AccordError as error:  # the operation may handle it; else it goes up
                    call = steps.throw(error)
                else:
                    call = steps.send(result)
        except StopIteration as done:
            value: T = done.value
            return value
        finally:
            steps.close()

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()


class AsyncClient(_Base):
    def __init__(
        self,
        issuer: str,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        **options: Unpack[Options],
    ) -> None:
        super().__init__(issuer, **options)
        self._http = httpx.AsyncClient(transport=transport, timeout=self.timeout)

    async def _execute(self, call: Call[T]) -> T:
        try:
            response = await self._http.send(self._http_request(self._http, call.request))
            await response.aread()
        except httpx.TransportError as exc:
            raise _unreachable(call, exc) from exc
        return self._finish(call, response)

    async def _run(self, steps: Steps[T]) -> T:
        """A multi-call operation, to its end."""
        try:
            call = next(steps)
            while True:
                try:
                    result = await self._execute(call)
                except AccordError as error:  # the operation may handle it; else it goes up
                    call = steps.throw(error)
                else:
                    call = steps.send(result)
        except StopIteration as done:
            value: T = done.value
            return value
        finally:
            steps.close()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *_: Any) -> None:
        await self.aclose()
