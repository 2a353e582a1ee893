"""Consents a platform records through the API, for the KPI tests."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.gateway.alliance import Alliance
from tests.gateway.oauth.test_client_tokens import platform_auth


def record_and_withdraw_the_first(
    client: TestClient, alliance: Alliance, accounts: tuple[str, ...]
) -> list[str]:
    """One consent per account (Redleaf, personalize.content, device type), the first
    withdrawn since: their record ids."""
    recorded = []
    for account in accounts:
        response = client.post(
            "/v1/consents",
            json={
                "account_id": account,
                "purpose": "personalize.content",
                "categories": ["user.device.type"],
                "notice": {"id": "redleaf-privacy", "version": 1},
            },
            headers=platform_auth(alliance),
        )
        assert response.status_code == 201, response.text
        recorded.append(response.json()["record_id"])
    withdrawn = client.post(f"/v1/consents/{recorded[0]}/withdraw", headers=platform_auth(alliance))
    assert withdrawn.status_code == 200, withdrawn.text
    return recorded
