"""The escrow HTTP API under /v1."""
