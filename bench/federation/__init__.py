"""Federated-learning benchmarks: FedAvg with FedProx's protocol on Synthetic(1, 1)."""
