"""Real crashes of the escrow API process: a retry with the same Idempotency-Key proceeds at
once after the process died, gets the committed result when the effect had committed, and
never runs the write a second time.

The API runs as a subprocess (``python -m services.cli escrow api``) and is SIGKILLed, or
ends itself at a named crash point (shared/faults.py, ``TRADEFLOW_CRASH_AT``) to hit a
window a few microseconds wide every time.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from services.escrow.adapters.tables import escrows
from shared.db import make_engine
from shared.http.claims import MAX_CLAIMS
from shared.runtime import identity_engine
from shared.settings import Settings
from tests.e2e.conftest import free_port, service_env
from tests.integration.escrow.conftest import order_body
from tests.support.keys import bearer, new_key

pytestmark = pytest.mark.e2e


class EscrowApi:
    def __init__(self, settings: Settings, logs: Path, crash_at: str | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = service_env(settings)
        if crash_at:
            env["TRADEFLOW_CRASH_AT"] = crash_at
        self.log = logs / f"escrow-api-{self.port}.log"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "services.cli", "escrow", "api", "--port", str(self.port)],
            env=env,
            stdout=self.log.open("wb"),
            stderr=subprocess.STDOUT,
        )
        self._wait_live()

    def _wait_live(self, within: float = 60) -> None:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"escrow api exited:\n{self.log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{self.url}/healthz/ready", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()  # never leave a process behind that no fixture will stop
        raise RuntimeError(f"escrow api not ready within {within}s")

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


@pytest.fixture
def apis(e2e_settings: Settings, tmp_path: Path) -> Iterator[Any]:
    started: list[EscrowApi] = []

    @contextmanager
    def start(crash_at: str | None = None) -> Iterator[EscrowApi]:
        api = EscrowApi(e2e_settings, tmp_path, crash_at)
        started.append(api)
        try:
            yield api
        finally:
            api.stop()

    yield start
    for api in started:
        api.stop()


@pytest.fixture
async def escrow_db(e2e_settings: Settings) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(e2e_settings.service_database_url("escrow"), pool_size=2)
    yield engine
    await engine.dispose()


async def keys(settings: Settings) -> tuple[str, dict[str, str], dict[str, str]]:
    """A tenant's platform and finance keys, in the identity database the processes read."""
    tenant = f"t-{uuid.uuid4().hex[:8]}"
    identity = identity_engine(settings)
    try:
        platform = await new_key(identity, tenant, ["platform"], f"{tenant}-platform")
        finance = await new_key(identity, tenant, ["finance"], f"{tenant}-finance")
    finally:
        await identity.dispose()
    return tenant, bearer(platform), bearer(finance)


async def orders_of(engine: AsyncEngine, tenant: str) -> int:
    async with engine.connect() as conn:
        q = sa.select(sa.func.count()).select_from(escrows).where(escrows.c.tenant_id == tenant)
        return int((await conn.execute(q)).scalar_one())


async def lock_waiters(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        q = sa.text(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return int((await conn.execute(q)).scalar_one())


async def test_a_sigkilled_api_leaves_no_key_locked(
    apis: Any, escrow_db: AsyncEngine, e2e_settings: Settings
) -> None:
    """A burst of orders is in flight when the API is SIGKILLed (each request waiting inside
    its effect, its key claimed); the retries, sent as soon as an API is up again, all go
    through: no key stays locked after its holder died (it was 409 for 10 minutes)."""
    tenant, platform, _ = await keys(e2e_settings)
    burst = {str(uuid.uuid4()): order_body() | {"buyer_id": f"b-{i}"} for i in range(24)}
    blocker = await escrow_db.connect()
    await blocker.execute(sa.text("LOCK TABLE escrows IN EXCLUSIVE MODE"))  # inserts wait
    try:
        with apis() as first:
            async with httpx.AsyncClient(base_url=first.url, timeout=60) as client:
                inflight = [
                    asyncio.create_task(
                        client.post(
                            "/v1/orders", json=body, headers=platform | {"Idempotency-Key": k}
                        )
                    )
                    for k, body in burst.items()
                ]
                for _ in range(300):  # until every claim holder waits inside its effect
                    if await lock_waiters(escrow_db) >= min(len(burst), MAX_CLAIMS):
                        break
                    await asyncio.sleep(0.1)
                first.kill()
                outcomes = await asyncio.gather(*inflight, return_exceptions=True)
        assert all(isinstance(o, httpx.HTTPError) for o in outcomes), outcomes
    finally:
        await blocker.rollback()
        await blocker.close()
    assert await orders_of(escrow_db, tenant) == 0  # nothing had committed

    with apis() as second:
        async with httpx.AsyncClient(base_url=second.url, timeout=60) as client:
            retries = await asyncio.gather(
                *(
                    client.post("/v1/orders", json=body, headers=platform | {"Idempotency-Key": k})
                    for k, body in burst.items()
                )
            )
    assert [r.status_code for r in retries] == [201] * len(burst), [r.text for r in retries]
    assert len({r.json()["order_id"] for r in retries}) == len(burst)
    assert await orders_of(escrow_db, tenant) == len(burst)


async def test_a_crash_after_the_effect_committed_replays_the_committed_order(
    apis: Any, escrow_db: AsyncEngine, e2e_settings: Settings
) -> None:
    """The process dies after the order committed and before its answer was stored: the retry
    gets the order that committed (as the first answer would have been), not a second one."""
    tenant, platform, _ = await keys(e2e_settings)
    headers = platform | {"Idempotency-Key": str(uuid.uuid4())}
    with apis(crash_at="idempotency.after_effect") as doomed:
        async with httpx.AsyncClient(base_url=doomed.url, timeout=30) as client:
            with pytest.raises(httpx.HTTPError):
                await client.post("/v1/orders", json=order_body(), headers=headers)
        assert doomed.proc.wait(timeout=10) == 137
    assert await orders_of(escrow_db, tenant) == 1

    with apis() as revived:
        async with httpx.AsyncClient(base_url=revived.url, timeout=30) as client:
            retry = await client.post("/v1/orders", json=order_body(), headers=headers)
            assert retry.status_code == 201, retry.text
            assert retry.headers["Idempotent-Replayed"] == "true"
            stored = await client.get(f"/v1/orders/{retry.json()['order_id']}", headers=platform)
            assert retry.json() == stored.json()
            again = await client.post("/v1/orders", json=order_body(), headers=headers)
            assert again.json() == retry.json()
    assert await orders_of(escrow_db, tenant) == 1


async def test_a_crash_between_reservation_and_payout_never_reserves_twice(
    apis: Any, escrow_db: AsyncEngine, e2e_settings: Settings
) -> None:
    """The buyer's acceptance committed its payout reservation, then the process died before
    the Stripe transfer: the retry answers with the reservation that committed (the
    settlement timer pays it), and never accepts or reserves a second time."""
    _, platform, finance = await keys(e2e_settings)
    with apis() as setup:
        async with httpx.AsyncClient(base_url=setup.url, timeout=30) as client:
            key = {"Idempotency-Key": str(uuid.uuid4())}
            order = (
                await client.post("/v1/orders", json=order_body(), headers=platform | key)
            ).json()
            oid, mid = order["order_id"], order["milestones"][0]["milestone_id"]
            wire = {"amount": order["total"], "reference": f"w-{oid}"}
            funded = await client.post(
                f"/v1/orders/{oid}/wire-confirmations", json=wire, headers=finance
            )
            assert funded.status_code == 201, funded.text

    accept = f"/v1/orders/{oid}/milestones/{mid}/accept"
    headers = platform | {"Idempotency-Key": str(uuid.uuid4())}
    with apis(crash_at="escrow.before_settlement") as doomed:
        async with httpx.AsyncClient(base_url=doomed.url, timeout=30) as client:
            with pytest.raises(httpx.HTTPError):
                await client.post(accept, headers=headers)
        assert doomed.proc.wait(timeout=10) == 137

    with apis() as revived:
        async with httpx.AsyncClient(base_url=revived.url, timeout=30) as client:
            retry = await client.post(accept, headers=headers)
            assert retry.status_code == 200, retry.text
            assert retry.headers["Idempotent-Replayed"] == "true"
            body = retry.json()
            assert body["milestones"][0]["status"] == "releasing"
            assert len(body["payouts"]) == 1 and body["reserved"] == body["payouts"][0]["gross"]
            state = (await client.get(f"/v1/orders/{oid}", headers=platform)).json()
            assert len(state["payouts"]) == 1  # one reservation, one transfer to come
