"""A one-answer HTTP server standing in for Stripe: every request gets the same status and
JSON body, as Stripe would send them, so a test can reach the answers stripe-mock never
gives (429, 500) through the real stripe library, and see what the library sent."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs


@dataclass
class Sent:
    """A request the server received: path, headers (lower-case names), form fields."""

    path: str
    headers: dict[str, str]
    form: dict[str, list[str]]


@dataclass
class StubStripe:
    api_base: str
    sent: list[Sent] = field(default_factory=list)


@asynccontextmanager
async def stripe_answering(status: int, body: dict[str, Any]) -> AsyncIterator[StubStripe]:
    """A server answering ``status`` with ``body``. It says ``Stripe-Should-Retry: false``,
    so the library's own retries do not slow the test."""
    payload = json.dumps(body).encode()
    head = (
        f"HTTP/1.1 {status} Stub\r\nContent-Type: application/json\r\n"
        f"Stripe-Should-Retry: false\r\nContent-Length: {len(payload)}\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    stub = StubStripe("")

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request_line, *lines = (await reader.readuntil(b"\r\n\r\n")).decode().split("\r\n")
        headers = {
            name.strip().lower(): value.strip()
            for name, _, value in (line.partition(":") for line in lines if line)
        }
        form = await reader.readexactly(int(headers.get("content-length", 0)))
        stub.sent.append(Sent(request_line.split()[1], headers, parse_qs(form.decode())))
        writer.write(head + payload)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    stub.api_base = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    async with server:
        yield stub
