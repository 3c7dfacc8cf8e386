"""Tradeflow financing service."""
