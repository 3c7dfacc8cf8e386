"""The ledger's use cases (see docs/architecture.md, "Inside a service")."""
