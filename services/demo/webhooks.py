"""The demo's platform receiver: a local HTTP server that the webhooks service delivers the
trade's events to, each verified with the ``standardwebhooks`` library, as a platform would
(docs/webhooks.md). Development only: the receiver is on ``http://127.0.0.1``."""

from __future__ import annotations

import asyncio
import socket
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
import uvicorn
from rich.console import Console
from rich.table import Table
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from services.demo.support import DemoFailed, until
from shared.settings import Settings


@dataclass
class Receiver:
    secret: str = ""
    received: list[tuple[str, bool]] = field(default_factory=list)  # (event type, verified)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        try:
            event = Webhook(self.secret).verify(body, headers)
            self.received.append((event["type"], True))
            status = 200
        except (WebhookVerificationError, ValueError):
            self.received.append(("?", False))
            status = 400
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


class DemoReceiver:
    """Serves ``Receiver`` on a free port of 127.0.0.1 and registers it as an endpoint."""

    def __init__(self, settings: Settings, platform: dict[str, str]) -> None:
        self.settings, self.platform = settings, platform
        self.app = Receiver()
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        config = uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_config=None)
        self.server = uvicorn.Server(config)
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.task = asyncio.create_task(self.server.serve())
        await until("the demo receiver", self._started, within=10)
        base = f"http://{self.settings.host}:{self.settings.webhooks_port}"
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            r = await client.post(
                "/v1/webhook-endpoints",
                json={
                    "url": f"http://127.0.0.1:{self.port}/tradeflow",
                    "enabled_events": ["escrow.*", "financing.*"],
                    "description": "the demo platform's receiver",
                },
                headers={**self.platform, "Idempotency-Key": str(uuid.uuid4())},
            )
        if r.status_code != 201:
            raise DemoFailed(f"registering the demo receiver -> {r.status_code}: {r.text}")
        self.app.secret = r.json()["secret"]

    async def _started(self) -> bool | None:
        return True if self.server.started else None

    async def show(self, console: Console, expected: int = 5) -> bool:
        """Wait for the deliveries, then print what arrived and whether each verified."""

        async def arrived() -> bool | None:
            return True if len(self.app.received) >= expected else None

        await until("webhook deliveries", arrived, within=60)
        await asyncio.sleep(2)  # the trade's last events
        table = Table(title=f"Webhooks received on 127.0.0.1:{self.port} (standardwebhooks)")
        table.add_column("event type")
        table.add_column("signature")
        for kind, ok in self.app.received:
            table.add_row(kind, "[green]verified[/]" if ok else "[red]refused[/]")
        console.print(table)
        return all(ok for _, ok in self.app.received)

    async def stop(self) -> None:
        self.server.should_exit = True
        if self.task is not None:
            await self.task
