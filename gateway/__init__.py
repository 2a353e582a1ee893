"""The Accord gateway: a FastAPI service, one folder per domain."""
