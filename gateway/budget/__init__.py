"""The privacy-loss ledger's storage: caps, running totals and every charge."""
