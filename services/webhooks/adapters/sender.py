"""The HTTP sender: httpx, with every connection made to an address that was checked.

httpx resolves a host itself when it connects, which would open a gap between the check of
the addresses (``domain/ssrf.py``) and the connection: a name may answer a public address to
the check and ``127.0.0.1`` to the connection (DNS rebinding). So the transport's network
backend resolves the host, refuses it if any address is forbidden, and connects to a checked
address itself; TLS still verifies the certificate against the URL's host name (httpcore
sends it as SNI), so https keeps its meaning.

Bounded: connect and read timeouts, an overall deadline, the first KiB of the answer read and
the rest never downloaded (and asked for uncompressed, ``Accept-Encoding: identity``, so the
excerpt is the answer's text, not gzip bytes: the raw stream is read to bound it), no
redirects followed (a 3xx is a failed attempt), no proxy from
the environment.
"""

from __future__ import annotations

import asyncio
import time
import typing

import httpcore
import httpx

from services.webhooks.domain.errors import UrlNotAllowed
from services.webhooks.domain.model import RESPONSE_EXCERPT_BYTES
from services.webhooks.domain.ssrf import check_address, check_port
from services.webhooks.service_layer.ports import Resolver, Sent


class CheckedBackend(httpcore.AsyncNetworkBackend):
    def __init__(
        self, resolver: Resolver, allow_loopback: bool, allowed_ports: frozenset[int] = frozenset()
    ) -> None:
        self._inner = httpcore.AnyIOBackend()
        self._resolver, self._allow_loopback = resolver, allow_loopback
        self._allowed_ports = allowed_ports

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: typing.Iterable[typing.Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await self._resolver.resolve(host, port)
        for address in addresses:
            check_address(host, address, allow_loopback=self._allow_loopback)
            # Again at delivery: an endpoint stored before the port rule, or by a
            # configuration that allowed more, is not called on a port no longer allowed.
            check_port(host, port, loopback=address.is_loopback,
                       allow_loopback=self._allow_loopback, allowed_ports=self._allowed_ports)  # fmt: skip
        error: Exception = httpcore.ConnectError(f"{host} has no address")
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    str(address), port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
        raise error

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109
        socket_options: typing.Any = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("unix sockets are never a webhook target")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class CheckedTransport(httpx.AsyncHTTPTransport):
    def __init__(
        self,
        resolver: Resolver,
        allow_loopback: bool,
        limits: httpx.Limits,
        allowed_ports: frozenset[int] = frozenset(),
    ) -> None:
        super().__init__(trust_env=False, limits=limits)
        ssl_context = self._pool._ssl_context
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=CheckedBackend(resolver, allow_loopback, allowed_ports),
        )


class HttpSender:
    def __init__(
        self,
        resolver: Resolver,
        *,
        allow_loopback: bool,
        allowed_ports: frozenset[int] = frozenset(),
        connect_timeout: float = 5.0,
        read_timeout: float = 10.0,
        max_connections: int = 100,
    ) -> None:
        limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=20)
        self.deadline = connect_timeout + read_timeout + 5.0
        self.client = httpx.AsyncClient(
            transport=CheckedTransport(resolver, allow_loopback, limits, allowed_ports),
            timeout=httpx.Timeout(read_timeout, connect=connect_timeout),
            follow_redirects=False,
            trust_env=False,
        )

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> Sent:
        started = time.monotonic()

        def elapsed() -> int:
            return int((time.monotonic() - started) * 1000)

        try:
            async with asyncio.timeout(self.deadline):
                headers = {**headers, "Accept-Encoding": "identity"}
                async with self.client.stream("POST", url, content=body, headers=headers) as r:
                    excerpt = b""
                    async for chunk in r.aiter_raw():
                        excerpt += chunk
                        if len(excerpt) >= RESPONSE_EXCERPT_BYTES:
                            break
                    return Sent(r.status_code, elapsed(), excerpt[:RESPONSE_EXCERPT_BYTES])
        except UrlNotAllowed as exc:
            return Sent(None, elapsed(), error=f"url_not_allowed: {exc.message}")
        except (httpx.TimeoutException, TimeoutError):
            return Sent(None, elapsed(), error="timeout")
        except (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError) as exc:
            # InvalidURL and StreamError are no HTTPError: uncaught, the attempt would never
            # be recorded and the delivery claimed again at every lease, for ever.
            return Sent(None, elapsed(), error=f"{type(exc).__name__}: {exc}"[:500])

    async def close(self) -> None:
        await self.client.aclose()
