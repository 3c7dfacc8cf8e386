"""The sign-in links the console has made and not yet seen used: link id → the API key it
stands for, until it ends. In this process's memory, on purpose: the key never leaves the
console (not in the URL, not in a table), and a link is used at most once because taking it
removes it (``take``), under one lock.

What that costs: a link works only on the console process that made it, and a restart
forgets every pending link (they are short-lived: make another). Several console processes
behind one address would need a shared store; the demo runs one (docs/console.md).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime

from services.console.domain.sign_in_links import (
    InvalidLink,
    LinkRefused,
    LinkToken,
    mint,
    verify,
)

MAX_PENDING = 1_000


class TooManyLinks(Exception):
    """More pending links than the console keeps: refuse a new one rather than grow."""


@dataclass(frozen=True)
class PendingLink:
    api_key: str
    expires_at: datetime
    signs_in_as: str = ""  # what the link's page tells the person before they continue


class SignInLinks:
    def __init__(self, key: bytes, max_pending: int = MAX_PENDING) -> None:
        self._key, self._max = key, max_pending
        self._pending: dict[str, PendingLink] = {}
        self._lock = asyncio.Lock()

    async def make(
        self, api_key: str, expires_at: datetime, now: datetime, signs_in_as: str = ""
    ) -> LinkToken:
        async with self._lock:
            self._forget_ended(now)
            if len(self._pending) >= self._max:
                raise TooManyLinks()
            link = mint(self._key, expires_at)
            self._pending[link.link_id] = PendingLink(api_key, link.expires_at, signs_in_as)
            return link

    async def peek(self, token: str, now: datetime) -> tuple[LinkToken, str]:
        """The link, still unused, and whom it signs in as (``InvalidLink`` otherwise);
        nothing is taken."""
        link = verify(self._key, token, now)
        pending = self._pending.get(link.link_id)
        if pending is None:
            raise InvalidLink(LinkRefused.USED)
        return link, pending.signs_in_as

    async def take(self, token: str, now: datetime) -> str:
        """The API key the link stands for, removed: the link cannot be used again."""
        link = verify(self._key, token, now)
        async with self._lock:
            pending = self._pending.pop(link.link_id, None)
        if pending is None:
            raise InvalidLink(LinkRefused.USED)
        return pending.api_key

    def _forget_ended(self, now: datetime) -> None:
        for link_id in [i for i, p in self._pending.items() if now >= p.expires_at]:
            del self._pending[link_id]
