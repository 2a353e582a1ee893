"""The alliance operator's client (sync and async): the alliance KPIs, federated
training runs and the model registry. Authenticates with :class:`sdk.OperatorToken`."""

from __future__ import annotations

from sdk.client import AsyncClient, SyncClient
from sdk.kpis import KpiOperations
from sdk.standard import GatewayOperations
from sdk.training import TrainingOperations


class OperatorOperations(GatewayOperations, KpiOperations, TrainingOperations):
    """Operations of the alliance operator's tools (dashboards, the federated trainer)."""


class OperatorClient(SyncClient, OperatorOperations):
    """The operator's client of the gateway."""


class AsyncOperatorClient(AsyncClient, OperatorOperations):
    """The operator's asyncio client of the gateway."""
