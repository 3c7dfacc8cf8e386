"""Tradeflow escrow service."""
