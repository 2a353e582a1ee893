"""Federated learning with person-level differential privacy (Flower + Opacus).

Reaches the gateway only through :mod:`sdk`.
"""
