"""The consent package's error tree and catalog.

Each error maps to an HTTP status, an OAuth-style ``error`` code and a public
message; the adapters (``consent.api``, the gateway) read the catalog, so internal
detail never reaches the wire.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CatalogEntry:
    status: int
    code: str
    message: str


class ConsentError(Exception):
    """Root of every error the consent core raises."""

    code = "server_error"


class TaxonomyError(ConsentError):
    """The data standard's files are invalid; ``problems`` names each key at fault."""

    code = "invalid_data_standard"

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("invalid data standard:\n  " + "\n  ".join(self.problems))


CATALOG: dict[type[ConsentError], CatalogEntry] = {
    ConsentError: CatalogEntry(500, "server_error", "The consent service failed."),
    TaxonomyError: CatalogEntry(500, "server_error", "The data standard is not available."),
}


def catalog_entry(error: ConsentError) -> CatalogEntry:
    for cls in type(error).__mro__:
        if cls in CATALOG:
            return CATALOG[cls]
    return CATALOG[ConsentError]
