"""Tradeflow services and the CLI that runs them."""
