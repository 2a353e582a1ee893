"""Federated training runs at the gateway: consent-gated samples, the privacy ledger's
charges per round, and the registry of trained models with their model cards."""
