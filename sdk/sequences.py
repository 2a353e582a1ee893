"""Operations of several calls, still written once for the sync and the async client.

Some operations need more than one round trip: a sign-in's callback reads the discovery
document (cached), redeems the code, then fetches the JWKS when it meets a key it does
not know. Such an operation is a generator: it yields each :class:`~sdk.calls.Call` and
is sent back its parsed result (or thrown its error), and it returns the operation's
value. :class:`sequence` binds it like :class:`~sdk.calls.operation` does a single call:
run to completion on a sync client, an awaitable on an async one.

    @sequence
    def refresh_tokens(self, refresh_token: str) -> Steps[TokenSet]:
        metadata = yield from self._metadata()  # a call the first time only
        form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
        request = Request("POST", endpoint_path(metadata, "token_endpoint"), form=form)
        tokens: TokenSet = yield Call(request, token_set)
        return tokens
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Generator
from typing import TYPE_CHECKING, Any, Concatenate, Generic, ParamSpec, TypeAlias, TypeVar, overload

from sdk.calls import Call
from sdk.client import AsyncClient
from sdk.errors import AccordError

if TYPE_CHECKING:
    from sdk.client import SyncClient

T = TypeVar("T")
P = ParamSpec("P")

Steps: TypeAlias = Generator[Call[Any], Any, T]
"""What a multi-call operation is: it yields calls, receives their results, returns T."""


class sequence(Generic[P, T]):  # noqa: N801 - used as a decorator
    def __init__(self, build: Callable[Concatenate[Any, P], Steps[T]]) -> None:
        self.build = build
        self.__doc__ = build.__doc__
        self.__name__ = build.__name__

    @overload
    def __get__(self, obj: None, owner: type[Any]) -> sequence[P, T]: ...
    @overload
    def __get__(self, obj: SyncClient, owner: type[Any]) -> Callable[P, T]: ...
    @overload
    def __get__(self, obj: AsyncClient, owner: type[Any]) -> Callable[P, Awaitable[T]]: ...
    def __get__(self, obj: Any, owner: type[Any]) -> Any:
        if obj is None:
            return self
        build = self.build

        def bound(*args: P.args, **kwargs: P.kwargs) -> Any:
            steps = build(obj, *args, **kwargs)
            if isinstance(obj, AsyncClient):
                return _run_async(obj, steps)
            return _run_sync(obj, steps)

        bound.__name__ = self.__name__
        bound.__doc__ = self.__doc__
        return bound


def _run_sync(client: SyncClient, steps: Steps[T]) -> T:
    try:
        call = next(steps)
        while True:
            try:
                result = client._execute(call)
            except AccordError as error:  # the operation may handle it; else it goes on up
                call = steps.throw(error)
            else:
                call = steps.send(result)
    except StopIteration as done:
        value: T = done.value
        return value
    finally:
        steps.close()


async def _run_async(client: AsyncClient, steps: Steps[T]) -> T:
    try:
        call = next(steps)
        while True:
            try:
                result = await client._execute(call)
            except AccordError as error:
                call = steps.throw(error)
            else:
                call = steps.send(result)
    except StopIteration as done:
        value: T = done.value
        return value
    finally:
        steps.close()
