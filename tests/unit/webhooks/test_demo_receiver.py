"""The demo's receiver verifies what it is sent, as a platform's would."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx

from services.demo.webhooks import Receiver
from services.webhooks.domain import signing


async def test_the_demo_receiver_verifies_signatures() -> None:
    secret = signing.new_secret()
    app = Receiver(secret)
    body = '{"type":"escrow.funded","id":"e1"}'
    good = signing.headers([secret], "e1", datetime.now(UTC), body)
    bad = signing.headers([signing.new_secret()], "e1", datetime.now(UTC), body)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://receiver") as client:
        assert (await client.post("/", content=body, headers=good)).status_code == 200
        assert (await client.post("/", content=body, headers=bad)).status_code == 400
    assert app.received == [("escrow.funded", True), ("?", False)]
