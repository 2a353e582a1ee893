"""The consent package's error tree and catalog.

Each error maps to an HTTP status, an OAuth-style ``error`` code and a public
message; the adapters (``consent.api``, the gateway) read the catalog, so internal
detail never reaches the wire. A raiser's own message (``str(error)``) is public
too, and must name what was wrong without echoing personal data.
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


class TaxonomyError(ConsentError):
    """The data standard's files are invalid; ``problems`` names each key at fault."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("invalid data standard:\n  " + "\n  ".join(self.problems))


class RecordRefused(ConsentError):
    """A consent record cannot be created as asked."""


class MissingRecipient(RecordRefused):
    """PIPL Art. 23: a record must name the recipient, with its name and contact."""


class UnknownPurpose(RecordRefused):
    pass


class UnknownCategory(RecordRefused):
    pass


class NotNecessary(RecordRefused):
    """PIPL Art. 6: a category outside the purpose's declared necessity."""


class RecipientNotAllowed(RecordRefused):
    """The purpose is not open to this kind of recipient."""


class SeparateConsentRequired(RecordRefused):
    """PIPL Arts. 23 and 29: this consent cannot be bundled."""


class SensitiveConsentRequired(RecordRefused):
    """PIPL Art. 29: sensitive categories need a consent of their own."""


class GuardianRequired(RecordRefused):
    """PIPL Art. 31: a minor under 14 needs a guardian's consent."""


class InvalidValidity(RecordRefused):
    pass


class InvalidTransition(ConsentError):
    """The event does not apply to the record's current state (e.g. withdrawing twice)."""


class RecordNotFound(ConsentError):
    pass


class BudgetExceeded(ConsentError):
    """A privacy-loss charge would exceed the cap; nothing was charged."""


class LogError(ConsentError, ValueError):
    """An index, a size or a leaf the consent log cannot accept."""


class LogCorrupted(ConsentError):
    """The log's store lacks a node that its size says it holds."""


class CheckpointError(ConsentError, ValueError):
    """A checkpoint or signed note is malformed or its signature does not verify."""


CATALOG: dict[type[ConsentError], CatalogEntry] = {
    ConsentError: CatalogEntry(500, "server_error", "The consent service failed."),
    TaxonomyError: CatalogEntry(500, "server_error", "The data standard is not available."),
    RecordRefused: CatalogEntry(400, "invalid_request", "The consent record is not acceptable."),
    MissingRecipient: CatalogEntry(400, "invalid_request", "A consent must name its recipient."),
    UnknownPurpose: CatalogEntry(400, "invalid_request", "The purpose is not in the standard."),
    UnknownCategory: CatalogEntry(400, "invalid_request", "A category is not in the standard."),
    NotNecessary: CatalogEntry(
        400, "invalid_scope", "A category is not necessary for the purpose."
    ),
    RecipientNotAllowed: CatalogEntry(
        400, "invalid_request", "The purpose is not open to this recipient."
    ),
    SeparateConsentRequired: CatalogEntry(
        400, "invalid_request", "This consent must be given separately."
    ),
    SensitiveConsentRequired: CatalogEntry(
        400, "invalid_request", "Sensitive data needs a consent of its own."
    ),
    GuardianRequired: CatalogEntry(
        400, "invalid_request", "A guardian's consent is required for a minor under 14."
    ),
    InvalidValidity: CatalogEntry(400, "invalid_request", "The validity window is not valid."),
    InvalidTransition: CatalogEntry(409, "conflict", "The consent is not in a state for this."),
    RecordNotFound: CatalogEntry(404, "not_found", "No such consent."),
    BudgetExceeded: CatalogEntry(
        403, "budget_exhausted", "The privacy-loss budget does not allow this release."
    ),
    LogError: CatalogEntry(400, "invalid_request", "The log cannot answer for that index or size."),
    LogCorrupted: CatalogEntry(500, "server_error", "The consent log failed an integrity check."),
    CheckpointError: CatalogEntry(400, "invalid_request", "The checkpoint does not verify."),
}


def catalog_entry(error: ConsentError) -> CatalogEntry:
    for cls in type(error).__mro__:
        if cls in CATALOG:
            return CATALOG[cls]
    return CATALOG[ConsentError]
