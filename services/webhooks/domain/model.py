"""Endpoints, deliveries and attempts, and the rules that change them.

An **endpoint** is a URL a tenant registered, the event types it wants and the secrets that
sign what it is sent. A **delivery** is one event on its way to one endpoint: pending until
an attempt succeeds (a 2xx answer) or the retry schedule is spent. Each **attempt** is kept
in the delivery log: its number, status code, latency, the first KiB of the answer, or the
error that stopped it.

An endpoint counts its failed attempts in a row; a success resets the count. Once the count
reaches ``DisablePolicy.failures`` and the first of those failures is ``DisablePolicy.after``
old, the endpoint is disabled (it is failing steadily, not for a moment), and the caller
publishes ``webhooks.endpoint_disabled``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from services.webhooks.domain.backoff import RetrySchedule

RESPONSE_EXCERPT_BYTES = 1_024
PENDING, SUCCEEDED, FAILED = "pending", "succeeded", "failed"
TEST_EVENT = "webhook.test"
SPEC_VERSION = "1.0"


@dataclass(frozen=True)
class Endpoint:
    id: str
    tenant_id: str
    url: str
    enabled_events: tuple[str, ...]
    secret: str
    description: str = ""
    metadata: dict[str, str] = field(default_factory=dict)
    external_reference: str | None = None  # the platform's own id, unique per tenant
    enabled: bool = True
    disabled_reason: str | None = None
    previous_secret: str | None = None
    previous_secret_expires_at: datetime | None = None
    consecutive_failures: int = 0
    failing_since: datetime | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None

    def secrets_at(self, now: datetime) -> list[str]:
        """The secrets that sign a delivery sent at ``now``: the current one, and the one it
        replaced while the rotation's overlap lasts."""
        out = [self.secret]
        expires = self.previous_secret_expires_at
        if self.previous_secret and expires is not None and now < expires:
            out.append(self.previous_secret)
        return out


@dataclass(frozen=True)
class DisablePolicy:
    failures: int = 15
    after: timedelta = timedelta(days=1)


def rotate_secret(
    endpoint: Endpoint, new_secret: str, now: datetime, overlap: timedelta
) -> Endpoint:
    """The endpoint signing with ``new_secret``; the old one also signs for ``overlap``."""
    return replace(
        endpoint,
        secret=new_secret,
        previous_secret=endpoint.secret if overlap > timedelta(0) else None,
        previous_secret_expires_at=now + overlap if overlap > timedelta(0) else None,
        updated_at=now,
    )


def set_enabled(endpoint: Endpoint, enabled: bool, now: datetime, reason: str | None) -> Endpoint:
    """Enabling starts a fresh count of failures."""
    return replace(
        endpoint,
        enabled=enabled,
        disabled_reason=None if enabled else reason,
        consecutive_failures=0 if enabled else endpoint.consecutive_failures,
        failing_since=None if enabled else endpoint.failing_since,
        updated_at=now,
    )


def after_attempt(
    endpoint: Endpoint, succeeded: bool, now: datetime, policy: DisablePolicy
) -> tuple[Endpoint, bool]:
    """The endpoint after one attempt, and whether this attempt disabled it."""
    if succeeded:
        if endpoint.consecutive_failures == 0:
            return endpoint, False
        return replace(endpoint, consecutive_failures=0, failing_since=None), False
    failures = endpoint.consecutive_failures + 1
    since = endpoint.failing_since or now
    after = replace(endpoint, consecutive_failures=failures, failing_since=since)
    if endpoint.enabled and failures >= policy.failures and now - since >= policy.after:
        reason = f"{failures} consecutive failed deliveries since {since.isoformat()}"
        return replace(set_enabled(after, False, now, reason), updated_at=now), True
    return after, False


@dataclass(frozen=True)
class Attempt:
    delivery_id: str
    number: int
    at: datetime
    status_code: int | None
    latency_ms: int
    response_excerpt: str
    error: str | None

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


@dataclass(frozen=True)
class Delivery:
    id: str
    tenant_id: str
    endpoint_id: str
    event_id: str
    event_type: str
    payload: dict[str, Any]
    status: str = PENDING
    attempts: int = 0
    next_attempt_at: datetime | None = None
    created_at: datetime | None = None
    redelivery_of: str | None = None


def after_delivery_attempt(
    delivery: Delivery, attempt: Attempt, schedule: RetrySchedule, rand: Callable[[], float]
) -> Delivery:
    """The delivery after ``attempt``: succeeded, scheduled again, or failed for good."""
    attempts = delivery.attempts + 1
    if attempt.succeeded:
        return replace(delivery, status=SUCCEEDED, attempts=attempts, next_attempt_at=None)
    wait = schedule.wait_after(attempts, rand)
    if wait is None:
        return replace(delivery, status=FAILED, attempts=attempts, next_attempt_at=None)
    return replace(delivery, attempts=attempts, next_attempt_at=attempt.at + wait)


def public_event(
    *,
    id: str,
    type: str,
    source: str,
    time: datetime,
    subject: str,
    tenant: str,
    version: int,
    data: dict[str, Any],
) -> dict[str, Any]:
    """What a platform is sent: the CloudEvents attributes and the data, nothing internal
    (no correlation or causation ids, no Kafka coordinates)."""
    return {
        "specversion": SPEC_VERSION,
        "id": id,
        "type": type,
        "source": source,
        "time": time.isoformat(),
        "subject": subject,
        "tenant": tenant,
        "version": version,
        "datacontenttype": "application/json",
        "data": data,
    }


def excerpt(body: bytes) -> str:
    """The first KiB of an answer, as text: undecodable bytes and NUL (which PostgreSQL text
    cannot hold, so an answer with one could not be recorded) become U+FFFD."""
    text = body[:RESPONSE_EXCERPT_BYTES].decode("utf-8", errors="replace")
    return text.replace("\x00", "\ufffd")
