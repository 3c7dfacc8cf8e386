"""What the use cases need from outside the database: DNS, an HTTP sender, the policy."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Protocol

from services.webhooks.domain.backoff import RetrySchedule
from services.webhooks.domain.errors import UrlNotAllowed
from services.webhooks.domain.model import DisablePolicy
from services.webhooks.domain.ssrf import IpAddress, Target, check_address, check_url


class Resolver(Protocol):
    async def resolve(self, host: str, port: int) -> list[IpAddress]:
        """Every address ``host`` resolves to; ``UrlNotAllowed`` when it resolves to none."""


@dataclass(frozen=True)
class Sent:
    """What one HTTP attempt came to: a status code, or the error that stopped it."""

    status_code: int | None
    latency_ms: int
    body_excerpt: bytes = b""
    error: str | None = None


class Sender(Protocol):
    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> Sent:
        """POST ``body`` to ``url``; never raises for the endpoint's failures (they are the
        ``Sent``'s ``error``), and refuses a URL whose host resolves to a forbidden
        address, after resolving it (``UrlNotAllowed`` as the error)."""


@dataclass(frozen=True)
class Policy:
    schedule: RetrySchedule = field(default_factory=RetrySchedule)
    disable: DisablePolicy = field(default_factory=DisablePolicy)
    secret_overlap: timedelta = timedelta(hours=24)
    allow_loopback: bool = False
    rand: Callable[[], float] = random.random
    allowed_ports: frozenset[int] = frozenset()  # beyond 443, 80, 8443 (domain/ssrf.py)


async def vet_url(
    url: str, resolver: Resolver, allow_loopback: bool, allowed_ports: frozenset[int] = frozenset()
) -> Target:
    """``url`` checked by form, then every address its host resolves to (registration)."""
    target = check_url(url, allow_loopback=allow_loopback, allowed_ports=allowed_ports)
    addresses: Sequence[IpAddress] = await resolver.resolve(target.host, target.port)
    if not addresses:
        raise UrlNotAllowed(f"{target.host} does not resolve")
    for address in addresses:
        check_address(target.host, address, allow_loopback=allow_loopback)
    return target
