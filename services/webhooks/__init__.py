"""Tradeflow webhooks service: signed outbound webhooks to the platforms (docs/webhooks.md)."""
