"""What an example app is told at start: its credentials file, written by ``accord demo
seed`` under ``var/demo/<slug>.json``, and the alliance's public directory beside it
(``alliance.json``: each member's name, kind, client id and URL).

The credentials file holds a secret (the brand's client secret, a platform's private
key); the directory holds nothing secret. The apps read no other file of the gateway.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sdk import ClientAuth, ClientSecretBasic, PrivateKeyJWT

DIRECTORY = "alliance.json"


class CredentialsError(ValueError):
    """The credentials file is missing or not what ``accord demo seed`` writes."""


@dataclass(frozen=True)
class Credentials:
    slug: str
    name: str
    kind: str  # "platform" or "brand"
    client_id: str
    base_url: str  # where this app is served, as registered at the gateway
    issuer: str
    client_secret: str | None = None
    private_jwk: dict[str, Any] | None = None
    folder: Path = Path()  # where the file is, beside the alliance's directory

    def auth(self) -> ClientAuth:
        if self.private_jwk is not None:
            return PrivateKeyJWT(self.client_id, self.private_jwk)
        if self.client_secret is not None:
            return ClientSecretBasic(self.client_id, self.client_secret)
        raise CredentialsError(f"{self.slug}: neither a private key nor a client secret")

    @property
    def host(self) -> str:
        return urlsplit(self.base_url).hostname or "127.0.0.1"

    @property
    def port(self) -> int:
        port = urlsplit(self.base_url).port
        if port is None:
            raise CredentialsError(f"{self.slug}: base_url {self.base_url!r} names no port")
        return port


@dataclass(frozen=True)
class Listing:
    """One member in the alliance's public directory."""

    slug: str
    name: str
    kind: str
    client_id: str
    base_url: str


def load(path: Path) -> Credentials:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CredentialsError(f"{path} does not exist: run `accord demo seed` first") from None
    except (OSError, ValueError) as exc:
        raise CredentialsError(f"{path} is not readable JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise CredentialsError(f"{path} is not a JSON object")
    try:
        credentials = Credentials(
            slug=path.stem,
            name=str(raw["name"]),
            kind=str(raw["kind"]),
            client_id=str(raw["client_id"]),
            base_url=str(raw["base_url"]).rstrip("/"),
            issuer=str(raw["issuer"]).rstrip("/"),
            client_secret=raw.get("client_secret"),
            private_jwk=raw.get("private_jwk"),
            folder=path.parent,
        )
    except KeyError as missing:
        raise CredentialsError(f"{path} lacks {missing}") from None
    if credentials.kind not in {"platform", "brand"}:
        raise CredentialsError(f"{path}: kind must be platform or brand")
    credentials.auth()  # a file without a credential is refused now, not at the first call
    return credentials


def directory(folder: Path) -> list[Listing]:
    """The members listed in ``alliance.json`` (empty when it is missing or malformed:
    the directory only labels things and links the apps together)."""
    try:
        raw = json.loads((folder / DIRECTORY).read_text(encoding="utf-8"))
        return [
            Listing(
                str(m["slug"]),
                str(m["name"]),
                str(m["kind"]),
                str(m["client_id"]),
                str(m["base_url"]).rstrip("/"),
            )
            for m in raw["members"]
        ]
    except (OSError, ValueError, KeyError, TypeError):
        return []
