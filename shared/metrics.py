"""Prometheus metrics shared by every process of every service."""

from prometheus_client import Counter, Histogram

HTTP_REQUESTS = Counter(
    "tradeflow_http_requests_total", "HTTP requests", ["service", "method", "route", "status"]
)
HTTP_LATENCY = Histogram(
    "tradeflow_http_request_seconds", "HTTP request latency", ["service", "method", "route"]
)
EVENTS_PUBLISHED = Counter("tradeflow_events_published_total", "Outbox events published", ["topic"])
EVENTS_CONSUMED = Counter(
    "tradeflow_events_consumed_total", "Events applied by a consumer", ["consumer"]
)
EVENTS_REDELIVERED = Counter(
    "tradeflow_events_redelivered_total",
    "Events delivered again and dropped by the inbox (already applied)",
    ["consumer"],
)
EVENTS_DEAD_LETTERED = Counter(
    "tradeflow_events_dead_lettered_total", "Events parked on the dead-letter topic", ["consumer"]
)
TIMERS_FIRED = Counter("tradeflow_timers_fired_total", "Durable timers fired", ["kind"])
