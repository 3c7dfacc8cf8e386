"""Escrow domain: pure state machine and money rules (no I/O, no frameworks)."""
