"""Shared Signals: the events outbox, SET signing, streams, push and poll delivery."""
