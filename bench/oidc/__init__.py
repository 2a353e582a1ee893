"""Accord's token endpoint side by side with node-oidc-provider 9.x (``tokens``)."""
