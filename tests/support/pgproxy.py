"""A TCP proxy in front of the real PostgreSQL that a test can take down and bring back.

The shared PostgreSQL must never be restarted by a test, so a service under test is pointed
at this proxy instead, and the proxy plays the restart: ``down()`` cuts every connection
and refuses new ones (as a stopped server does), ``starting_up()`` answers every new
connection the way PostgreSQL does while it recovers (SQLSTATE 57P03, "the database system
is starting up"), ``up()`` forwards to the real server again.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from typing import Literal

Mode = Literal["up", "down", "starting_up"]
SSL_REQUEST = 80877103


def _starting_up_error() -> bytes:
    """An ErrorResponse message exactly as a recovering PostgreSQL sends it."""
    fields = b"".join(
        code + text + b"\0"
        for code, text in (
            (b"S", b"FATAL"),
            (b"V", b"FATAL"),
            (b"C", b"57P03"),
            (b"M", b"the database system is starting up"),
        )
    )
    body = fields + b"\0"
    return b"E" + struct.pack("!I", len(body) + 4) + body


class PgProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.mode: Mode = "up"
        self.port = 0
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.StreamWriter] = set()

    async def start(self) -> PgProxy:
        await self._listen(0)
        return self

    async def _listen(self, port: int) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def up(self) -> None:
        self.mode = "up"
        if self._server is None:
            await self._listen(self.port)

    async def starting_up(self) -> None:
        self._cut_all()
        self.mode = "starting_up"
        if self._server is None:
            await self._listen(self.port)

    async def down(self) -> None:
        """Refuse connections (nothing listens) and cut the open ones."""
        self.mode = "down"
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        self._cut_all()

    async def close(self) -> None:
        await self.down()

    def _cut_all(self) -> None:
        for writer in list(self._pipes):
            writer.transport.abort()
        self._pipes.clear()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.mode == "starting_up":
            await self._refuse_starting_up(reader, writer)
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._pipes.update((writer, up_writer))
        await asyncio.gather(self._pump(reader, up_writer), self._pump(up_reader, writer))
        self._pipes.difference_update((writer, up_writer))

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.transport.abort()

    async def _refuse_starting_up(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            while True:
                length = struct.unpack("!I", await reader.readexactly(4))[0]
                packet = await reader.readexactly(length - 4)
                if len(packet) >= 4 and struct.unpack("!I", packet[:4])[0] == SSL_REQUEST:
                    writer.write(b"N")  # no TLS here; the client goes on in plain text
                    await writer.drain()
                    continue
                writer.write(_starting_up_error())
                await writer.drain()
                break
        writer.close()
