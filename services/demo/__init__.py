"""`tradeflow demo`: every service healthy, then a full cross-border trade over the APIs."""

from services.demo.health import run_demo, service_health

__all__ = ["run_demo", "service_health"]
