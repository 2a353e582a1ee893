"""Scopes, mapped onto the data standard's purposes and categories.

A scope is one of:

- ``openid``: sign-in (OpenID Connect); the purpose ``identity.sso`` with the
  pseudonymous id only;
- ``<purpose>``: a purpose of the standard with every category of its necessity;
- ``<purpose>:<category>``: a purpose with one category (or a category subtree) of its
  necessity, for a client that needs less;
- ``member_api``: a member's own token for the gateway's APIs (client_credentials).

A client may ask only for purposes it declared at registration, and only for categories
within each purpose's necessity (PIPL Art. 6): anything else is ``invalid_scope``,
never silently narrowed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from consent.taxonomy import DataStandard

OPENID = "openid"
MEMBER_API = "member_api"
SSO_PURPOSE = "identity.sso"
SSO_CATEGORY = "user.account.pseudonymous_id"
MAX_SCOPES = 40
MAX_SCOPE_LENGTH = 160


class ScopeRefused(Exception):
    """Why a scope is not allowed; the message is safe to show the client."""


@dataclass(frozen=True)
class Requested:
    """A parsed scope: purposes with the leaf categories asked for each."""

    openid: bool
    member_api: bool
    purposes: dict[str, frozenset[str]]


def split(scope: str | None) -> list[str]:
    """Scope tokens in order, each once (RFC 6749 §3.3: space-delimited, order-free)."""
    return list(dict.fromkeys((scope or "").split()))


def join(scopes: Iterable[str]) -> str:
    return " ".join(scopes)


def parse(scope: str | None, declared: frozenset[str], standard: DataStandard) -> Requested:
    """The purposes and categories a scope stands for, if the client may ask for them."""
    tokens = split(scope)
    if len(tokens) > MAX_SCOPES:
        raise ScopeRefused(f"at most {MAX_SCOPES} scopes")
    purposes: dict[str, set[str]] = {}
    openid = member_api = False
    for token in tokens:
        if len(token) > MAX_SCOPE_LENGTH:
            raise ScopeRefused("a scope is too long")
        if token == OPENID:
            openid = True
            purpose_key, categories = SSO_PURPOSE, frozenset({SSO_CATEGORY})
        elif token == MEMBER_API:
            member_api = True
            continue
        else:
            purpose_key, _, category = token.partition(":")
            purpose = standard.purposes.get(purpose_key)
            if purpose is None:
                raise ScopeRefused(f"unknown scope {token!r}")
            if category:
                categories = standard.leaves_under(category)
                if not categories:
                    raise ScopeRefused(f"unknown category in scope {token!r}")
                if not categories <= purpose.necessity:
                    raise ScopeRefused(
                        f"{category!r} is not necessary for {purpose_key!r} (PIPL Art. 6)"
                    )
            else:
                categories = purpose.necessity
        if purpose_key not in declared:
            raise ScopeRefused(f"the client did not declare the purpose {purpose_key!r}")
        purposes.setdefault(purpose_key, set()).update(categories)
    return Requested(openid, member_api, {k: frozenset(v) for k, v in purposes.items()})


def supported(standard: DataStandard) -> list[str]:
    """The scopes discovery advertises: the whole-purpose ones (categories narrow them)."""
    return [OPENID, *sorted(standard.purposes), MEMBER_API]
