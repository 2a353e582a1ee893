"""The federation package's errors: one tree, so a caller (``accord train``) can catch
them all and show the message, which always says what was wrong and with which value.

Every kind is also ``ValueError``: they are refusals of arguments.
"""

from __future__ import annotations


class FederationError(Exception):
    """Anything federated training refuses or cannot do."""


class InvalidDataRequest(FederationError, ValueError):
    """A data set, or a part of one, was asked for with arguments it cannot be made from."""


class AccountingError(FederationError, ValueError):
    """An accounting input outside the domain of the mechanism or the conversion."""


class InvalidRound(FederationError, ValueError):
    """A training round (DP-FedAvg, or the FedProx protocol's FedAvg) planned or run with
    arguments outside its domain."""


class InvalidGame(FederationError, ValueError):
    """Contribution scores asked of a game, or with settings, they cannot be computed for."""
