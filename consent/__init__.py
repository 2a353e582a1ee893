"""Accord's consent core: the data standard, records, decisions, the log and receipts.

Framework-free: only ``consent.api`` may know about HTTP.
"""
