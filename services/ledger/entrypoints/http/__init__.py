"""The ledger's HTTP API: one router per resource, each only parsing, calling, rendering."""
