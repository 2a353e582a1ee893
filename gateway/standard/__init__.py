"""Serving the alliance data standard."""
