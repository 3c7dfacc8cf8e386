"""DNS, through the event loop's ``getaddrinfo`` (the system resolver), bounded in time."""

from __future__ import annotations

import asyncio
import ipaddress
import socket

from services.webhooks.domain.errors import UrlNotAllowed
from services.webhooks.domain.ssrf import IpAddress


class SystemResolver:
    def __init__(self, timeout: float = 5.0) -> None:
        self.timeout = timeout

    async def resolve(self, host: str, port: int) -> list[IpAddress]:
        loop = asyncio.get_running_loop()
        try:
            infos = await asyncio.wait_for(
                loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), self.timeout
            )
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
