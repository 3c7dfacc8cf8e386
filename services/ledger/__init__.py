"""Tradeflow ledger service."""
