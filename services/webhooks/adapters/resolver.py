"""DNS on the resolver's own bounded thread pool, each lookup bounded in time.

``getaddrinfo`` blocks a thread. Run on the event loop's shared default pool (as
``loop.getaddrinfo`` does), a tenant whose endpoints' names never answer could hold those
threads and starve everything else in the process that uses the pool, other tenants'
lookups included. Here lookups run on a pool of their own (``threads``), and a lookup that
cannot get a thread within ``timeout`` fails like one that does not answer: a stuck name
costs its own attempts, bounded, and never blocks the loop's pool.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from services.webhooks.domain.errors import UrlNotAllowed
from services.webhooks.domain.ssrf import IpAddress

GetAddrInfo = Callable[..., list[Any]]


class SystemResolver:
    def __init__(
        self,
        timeout: float = 5.0,
        threads: int = 8,
        getaddrinfo: GetAddrInfo = socket.getaddrinfo,
    ) -> None:
        self.timeout = timeout
        self._getaddrinfo = getaddrinfo
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="webhooks-dns")
        self._slots = asyncio.Semaphore(threads)  # a thread free, or wait within the timeout

    async def _lookup(self, host: str, port: int) -> list[Any]:
        async with self._slots:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(
                self._pool, lambda: self._getaddrinfo(host, port, type=socket.SOCK_STREAM)
            )

    async def resolve(self, host: str, port: int) -> list[IpAddress]:
        try:
            infos = await asyncio.wait_for(self._lookup(host, port), self.timeout)
        except UnicodeError as exc:  # IDNA: a label over 63 octets, an empty one, ...
            raise UrlNotAllowed(f"{host!r} is not a valid host name: {exc}") from exc
        except (OSError, TimeoutError, ValueError) as exc:
            raise UrlNotAllowed(f"{host} does not resolve") from exc
        out: list[IpAddress] = []
        for *_, sockaddr in infos:
            address = ipaddress.ip_address(str(sockaddr[0]).partition("%")[0])
            if address not in out:
                out.append(address)
        if not out:
            raise UrlNotAllowed(f"{host} does not resolve")
        return out

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
