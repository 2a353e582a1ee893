"""What the relying party gets back: token responses (RFC 6749 §5.1), a finished
sign-in, an exchanged token (RFC 8693 §2.2) and UserInfo claims (OIDC Core §5.3.2).

Tokens are bearer secrets: they are left out of every ``repr``, so they stay out of logs.
"""

from __future__ import annotations

import httpx
from pydantic import BaseModel, ConfigDict, Field

from sdk.id_token import IDToken

ACCESS_TOKEN = "urn:ietf:params:oauth:token-type:access_token"  # noqa: S105 - RFC 8693 §3
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"  # noqa: S105 - RFC 8693 §2.1


class _Model(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


class TokenSet(_Model):
    """A token response (RFC 6749 §5.1). Tokens are secrets: they are left out of repr."""

    access_token: str = Field(repr=False)
    token_type: str
    expires_in: int | None = None
    refresh_token: str | None = Field(default=None, repr=False)
    id_token: str | None = Field(default=None, repr=False)
    scope: str | None = None


class SignIn(_Model):
    """A finished sign-in: the tokens and the verified ID token's claims."""

    tokens: TokenSet
    claims: IDToken

    @property
    def sub(self) -> str:
        return self.claims.sub


class ExchangedToken(_Model):
    """An access token for another member, obtained by token exchange (RFC 8693 §2.2)."""

    access_token: str = Field(repr=False)
    issued_token_type: str
    token_type: str
    expires_in: int | None = None
    scope: str | None = None


class UserInfo(_Model):
    """The UserInfo response (OIDC Core §5.3.2): ``sub`` and the consented claims."""

    sub: str


def token_set(response: httpx.Response) -> TokenSet:
    tokens = TokenSet.model_validate(response.json())
    if tokens.token_type.lower() != "bearer":
        raise ValueError(f"token_type {tokens.token_type!r} is not Bearer")
    return tokens


def exchanged_token(response: httpx.Response) -> ExchangedToken:
    token = ExchangedToken.model_validate(response.json())
    if token.issued_token_type != ACCESS_TOKEN or token.token_type.lower() != "bearer":
        raise ValueError("token exchange did not issue a Bearer access token")
    return token
