"""Sans-I/O core: an operation builds a :class:`Request` and parses the response.

:class:`operation` turns one builder into a method that runs synchronously on a
sync client and returns an awaitable on an async client, so every gateway call is
written once and shared by both.

An operation that needs several round trips (a sign-in's callback reads the discovery
document, redeems the code, then fetches the JWKS when it meets an unknown key) is a
generator instead: it yields each :class:`Call`, is sent back its parsed result (or
thrown its error), and returns the operation's value (:data:`Steps`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Generator, Mapping
from dataclasses import dataclass, field
from typing import (
    TYPE_CHECKING,
    Any,
    Concatenate,
    Generic,
    ParamSpec,
    TypeAlias,
    TypeVar,
    overload,
)

import httpx

if TYPE_CHECKING:
    from sdk.client import AsyncClient, SyncClient

T = TypeVar("T")
P = ParamSpec("P")


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    params: Mapping[str, str] | tuple[tuple[str, str], ...] | None = None
    json: Any = None
    form: Mapping[str, str] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    client_auth: bool = False  # apply the member's client authentication (token requests)
    member_auth: bool = False  # send the member's credential in Authorization (member APIs)


@dataclass(frozen=True)
class Call(Generic[T]):
    request: Request
    parse: Callable[[httpx.Response], T]
    ok_statuses: frozenset[int] = frozenset()  # non-2xx statuses the parser handles (304)


Steps: TypeAlias = Generator[Call[Any], Any, T]
"""A multi-call operation: it yields calls, receives their results, returns T."""


class operation(Generic[P, T]):  # noqa: N801 - used as a decorator
    def __init__(self, build: Callable[Concatenate[Any, P], Call[T] | Steps[T]]) -> None:
        self.build = build
        self.__doc__ = build.__doc__
        self.__name__ = build.__name__

    @overload
    def __get__(self, obj: None, owner: type[Any]) -> operation[P, T]: ...
    @overload
    def __get__(self, obj: SyncClient, owner: type[Any]) -> Callable[P, T]: ...
    @overload
    def __get__(self, obj: AsyncClient, owner: type[Any]) -> Callable[P, Awaitable[T]]: ...
    def __get__(self, obj: Any, owner: type[Any]) -> Any:
        if obj is None:
            return self
        build = self.build

        def bound(*args: P.args, **kwargs: P.kwargs) -> Any:
            built = build(obj, *args, **kwargs)
            return obj._execute(built) if isinstance(built, Call) else obj._run(built)

        bound.__name__ = self.__name__
        bound.__doc__ = self.__doc__
        return bound
