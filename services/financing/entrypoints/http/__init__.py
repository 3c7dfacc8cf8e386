"""Financing's HTTP API (/v1): one router per resource, on the service layer's use cases."""
