"""Idempotency-Key under failures, on a real app and the real database: the claim is a lock
that dies with its holder, and "the effect committed" commits with the effect.

The crashes themselves (a SIGKILLed API process) are in tests/e2e/test_crash_recovery.py;
these tests drive the same code paths in-process, where each failure can be placed exactly.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Annotated

import httpx
import pytest
import sqlalchemy as sa
from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.clock import SystemClock
from shared.db import idempotency_keys
from shared.http.app import create_service_app
from shared.http.auth import Principal, hash_key, requires
from shared.http.errors import ApiError
from shared.http.idempotency import answer
from shared.outbox import make_producer
from shared.runtime import Runtime
from shared.settings import Settings
from shared.unit_of_work import SqlUnitOfWork
from tests.integration.conftest import widgets
from tests.support.keys import bearer, new_key

Platform = Annotated[Principal, Depends(requires("platform"))]
router = APIRouter(prefix="/v1/stored-widgets")


@dataclass
class Script:
    """What the endpoint does around its commit, set by each test."""

    before_commit: Callable[[], Awaitable[None]] | None = None
    after_commit: Callable[[], Awaitable[None]] | None = None
    runs: list[str] = field(default_factory=list)


script = Script()


class WidgetCreate(BaseModel):
    id: str


@router.post("", status_code=201)
async def create_widget(body: WidgetCreate, request: Request, who: Platform) -> dict[str, str]:
    script.runs.append(body.id)
    async with SqlUnitOfWork(request.app.state.engine, "") as uow:
        await uow.conn.execute(widgets.insert().values(id=body.id, state=who.tenant_id))
        created = answer({"id": body.id, "state": "created"})
        if script.before_commit is not None:
            await script.before_commit()
        await uow.commit()
    if script.after_commit is not None:
        await script.after_commit()
    return created


@router.post("/peek")
async def peek(body: WidgetCreate, request: Request, who: Platform) -> dict[str, object]:
    script.runs.append(f"peek:{body.id}")
    async with SqlUnitOfWork(request.app.state.engine, "") as uow:
        found = await uow.conn.execute(sa.select(widgets.c.id).where(widgets.c.id == body.id))
        seen = answer({"id": body.id, "exists": found.first() is not None})
        await uow.commit()
    if script.after_commit is not None:
        await script.after_commit()
    return seen


@dataclass
class _Container:
    runtime: Runtime

    async def close(self) -> None:
        await self.runtime.producer.stop()


@pytest.fixture
async def client(
    settings: Settings, backbone_engine: AsyncEngine, identity: AsyncEngine
) -> AsyncIterator[httpx.AsyncClient]:
    async def bootstrap() -> _Container:
        producer = make_producer(settings.kafka_bootstrap_servers)
        await producer.start()
        runtime = Runtime("test", settings, backbone_engine, producer, SystemClock(), identity)
        return _Container(runtime)

    app = create_service_app(service="test", bootstrap=bootstrap, routers=[router])
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
            yield c
    script.before_commit = script.after_commit = None
    script.runs.clear()


@pytest.fixture
async def platform(identity: AsyncEngine) -> dict[str, str]:
    return bearer(await new_key(identity, f"t-{uuid.uuid4().hex[:6]}", ["platform"], "idem"))


async def widget_count(engine: AsyncEngine, widget_id: str) -> int:
    async with engine.connect() as conn:
        q = sa.select(sa.func.count()).select_from(widgets).where(widgets.c.id == widget_id)
        return int((await conn.execute(q)).scalar_one())


async def test_two_live_requests_with_one_key_execute_once(
    client: httpx.AsyncClient, platform: dict[str, str], backbone_engine: AsyncEngine
) -> None:
    inside, release = asyncio.Event(), asyncio.Event()

    async def hold() -> None:
        inside.set()
        await release.wait()

    script.before_commit = hold
    wid = f"w-{uuid.uuid4()}"
    headers = platform | {"Idempotency-Key": str(uuid.uuid4())}
    first = asyncio.create_task(
        client.post("/v1/stored-widgets", json={"id": wid}, headers=headers)
    )
    await asyncio.wait_for(inside.wait(), 10)
    second = await client.post("/v1/stored-widgets", json={"id": wid}, headers=headers)
    assert second.status_code == 409 and second.json()["error"]["code"] == "idempotency_key_in_use"
    release.set()
    assert (await first).status_code == 201
    third = await client.post("/v1/stored-widgets", json={"id": wid}, headers=headers)
    assert third.status_code == 201 and third.headers["Idempotent-Replayed"] == "true"
    assert script.runs == [wid] and await widget_count(backbone_engine, wid) == 1


async def test_an_outage_after_the_effect_committed_replays_the_committed_result(
    client: httpx.AsyncClient, platform: dict[str, str], backbone_engine: AsyncEngine
) -> None:
    """The database answered the commit, then went away: the client hears 503 and retries;
    the retry must not run the write again, and gets the result that committed."""

    async def outage() -> None:
        raise ConnectionRefusedError(111, "Connect call failed")

    script.after_commit = outage
    wid = f"w-{uuid.uuid4()}"
    headers = platform | {"Idempotency-Key": str(uuid.uuid4())}
    first = await client.post("/v1/stored-widgets", json={"id": wid}, headers=headers)
    assert first.status_code == 503 and first.headers["Retry-After"] == "1"
    assert first.json()["error"]["code"] == "service_unavailable"

    script.after_commit = None
    retry = await client.post("/v1/stored-widgets", json={"id": wid}, headers=headers)
    assert retry.status_code == 201, retry.text
    assert retry.json() == {"id": wid, "state": "created"}
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert script.runs == [wid] and await widget_count(backbone_engine, wid) == 1


async def test_a_failure_after_the_effect_committed_never_runs_it_again(
    client: httpx.AsyncClient, platform: dict[str, str], backbone_engine: AsyncEngine
) -> None:
    async def bug() -> None:
        raise RuntimeError("rendering failed after the commit")

    script.after_commit = bug
    wid = f"w-{uuid.uuid4()}"
    headers = platform | {"Idempotency-Key": str(uuid.uuid4())}
    first = await client.post("/v1/stored-widgets", json={"id": wid}, headers=headers)
    assert first.status_code == 500
    script.after_commit = None
    retry = await client.post("/v1/stored-widgets", json={"id": wid}, headers=headers)
    assert retry.status_code == 201 and retry.json() == {"id": wid, "state": "created"}
    assert script.runs == [wid] and await widget_count(backbone_engine, wid) == 1


async def test_a_refusal_after_the_effect_committed_replays_the_committed_result(
    client: httpx.AsyncClient, platform: dict[str, str], backbone_engine: AsyncEngine
) -> None:
    """Escrow commits a reservation, then settles it in a second transaction; if that one
    loses its version race five times the request answers 409 although the reservation
    stands. The retry gets what committed, not a 409 inviting it to try yet again."""

    async def conflict() -> None:
        raise ApiError(409, "concurrent_modification", "the escrow changed meanwhile; retry")

    script.after_commit = conflict
    wid = f"w-{uuid.uuid4()}"
    headers = platform | {"Idempotency-Key": str(uuid.uuid4())}
    first = await client.post("/v1/stored-widgets", json={"id": wid}, headers=headers)
    assert first.status_code == 409
    script.after_commit = None
    retry = await client.post("/v1/stored-widgets", json={"id": wid}, headers=headers)
    assert retry.status_code == 201 and retry.json() == {"id": wid, "state": "created"}
    assert script.runs == [wid] and await widget_count(backbone_engine, wid) == 1


async def test_an_outage_before_any_effect_leaves_the_key_free_for_the_retry(
    client: httpx.AsyncClient, platform: dict[str, str], backbone_engine: AsyncEngine
) -> None:
    async def outage() -> None:
        raise ConnectionResetError(104, "Connection reset by peer")

    script.before_commit = outage
    wid = f"w-{uuid.uuid4()}"
    headers = platform | {"Idempotency-Key": str(uuid.uuid4())}
    first = await client.post("/v1/stored-widgets", json={"id": wid}, headers=headers)
    assert first.status_code == 503 and await widget_count(backbone_engine, wid) == 0
    script.before_commit = None
    retry = await client.post("/v1/stored-widgets", json={"id": wid}, headers=headers)
    assert retry.status_code == 201 and "Idempotent-Replayed" not in retry.headers
    assert await widget_count(backbone_engine, wid) == 1


async def test_a_second_execution_that_got_past_the_claim_cannot_commit(
    client: httpx.AsyncClient, platform: dict[str, str], backbone_engine: AsyncEngine
) -> None:
    """Should two executions of one key ever run at once (the first one's lock connection cut
    by a database restart while it goes on), only one effect can commit: the marker of the
    key's effect is written by the effect's transaction, guarded by the execution's id."""
    key = str(uuid.uuid4())
    scope = hash_key(platform["Authorization"].removeprefix("Bearer "))

    async def the_other_execution_commits_first() -> None:
        async with backbone_engine.begin() as conn:
            await conn.execute(
                idempotency_keys.insert().values(
                    scope=scope, key=key, request_hash="x", execution_id=uuid.uuid4()
                )
            )

    script.before_commit = the_other_execution_commits_first
    wid = f"w-{uuid.uuid4()}"
    r = await client.post(
        "/v1/stored-widgets", json={"id": wid}, headers=platform | {"Idempotency-Key": key}
    )
    assert r.status_code == 409 and r.json()["error"]["code"] == "idempotency_key_in_use"
    assert await widget_count(backbone_engine, wid) == 0


async def test_a_read_only_transaction_is_no_effect(
    client: httpx.AsyncClient, platform: dict[str, str]
) -> None:
    """A request that committed nothing but reads (here: then met an outage) changed
    nothing: its retry runs again instead of replaying an answer."""

    async def outage() -> None:
        raise ConnectionRefusedError(111, "Connect call failed")

    script.after_commit = outage
    wid = f"w-{uuid.uuid4()}"
    headers = platform | {"Idempotency-Key": str(uuid.uuid4())}
    first = await client.post("/v1/stored-widgets/peek", json={"id": wid}, headers=headers)
    assert first.status_code == 503
    script.after_commit = None
    retry = await client.post("/v1/stored-widgets/peek", json={"id": wid}, headers=headers)
    assert retry.status_code == 200 and "Idempotent-Replayed" not in retry.headers
    assert script.runs == [f"peek:{wid}", f"peek:{wid}"]


async def test_an_answer_that_committed_nothing_is_stored_and_replayed(
    client: httpx.AsyncClient, platform: dict[str, str]
) -> None:
    """A read-only request's answer is kept by the claim when the request ends (no effect
    wrote it): its retry replays it, and the endpoint does not run again."""
    wid = f"w-{uuid.uuid4()}"
    headers = platform | {"Idempotency-Key": str(uuid.uuid4())}
    first = await client.post("/v1/stored-widgets/peek", json={"id": wid}, headers=headers)
    assert first.status_code == 200 and "Idempotent-Replayed" not in first.headers
    again = await client.post("/v1/stored-widgets/peek", json={"id": wid}, headers=headers)
    assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json() == {"id": wid, "exists": False}
    assert script.runs == [f"peek:{wid}"]
