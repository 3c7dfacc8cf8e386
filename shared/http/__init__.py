"""HTTP pieces every service API uses: typed errors, API-key auth, idempotency, ops routes."""
