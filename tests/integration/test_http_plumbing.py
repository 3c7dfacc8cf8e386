"""API keys (from the identity database), typed errors, Idempotency-Key semantics, /healthz and /metrics on a real app."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

import httpx
import pytest
from fastapi import APIRouter, Depends
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.clock import SystemClock
from shared.db import make_engine
from shared.http.app import create_service_app
from shared.http.auth import Principal, requires
from shared.http.errors import ApiError, not_found
from shared.identity.keys import create_api_key, revoke_api_key
from shared.outbox import make_producer
from shared.runtime import Runtime
from shared.settings import Settings

Platform = Annotated[Principal, Depends(requires("platform"))]
router = APIRouter(prefix="/v1/widgets")
calls: list[str] = []


class WidgetCreate(BaseModel):
    name: str
    amount: int


@router.post("", status_code=201)
async def create_widget(body: WidgetCreate, who: Platform) -> dict[str, str]:
    if body.amount <= 0:
        raise ApiError(422, "amount_not_positive", "amount must be positive")
    calls.append(body.name)
    wid = f"{who.tenant_id}:{uuid.uuid4()}"
    return {"id": wid, "name": body.name}


@router.post("/explode")
async def explode(who: Platform, mode: str = "error") -> dict[str, str]:
    calls.append(f"explode:{who.tenant_id}:{mode}")
    raise RuntimeError("failed after changing state")


@router.get("/whoami")
async def whoami(who: Annotated[Principal, Depends(requires("supplier"))]) -> dict[str, object]:
    return {"party": who.party_id, "acts_for_s1": who.may_act_for("s1")}


@router.get("/{wid}")
async def get_widget(wid: str, who: Platform) -> dict[str, str]:
    if not wid.startswith(f"{who.tenant_id}:"):
        raise not_found("widget", wid)
    return {"id": wid}


@dataclass
class _Container:
    runtime: Runtime

    async def close(self) -> None:
        with contextlib.suppress(Exception):
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


async def key(
    identity: AsyncEngine, tenant: str, *scopes: str, party: str | None = None
) -> dict[str, str]:
    async with identity.begin() as conn:
        issued = await create_api_key(
            conn, tenant, scopes, f"{tenant}-key", actor="test", party_id=party
        )
    key_ids[issued.raw] = issued.key.key_id
    return {"Authorization": f"Bearer {issued.raw}"}


key_ids: dict[str, str] = {}  # raw key -> its id, for the tests that revoke one


async def test_auth_scopes_and_tenant_isolation(
    client: httpx.AsyncClient, identity: AsyncEngine
) -> None:
    a = await key(identity, "tenant-a", "platform")
    b = await key(identity, "tenant-b", "platform")
    finance = await key(identity, "tenant-a", "finance")

    r = await client.post("/v1/widgets", json={"name": "x", "amount": 1})
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthenticated"
    r = await client.post(
        "/v1/widgets", json={"name": "x", "amount": 1}, headers={"Authorization": "Bearer nope"}
    )
    assert r.status_code == 401
    r = await client.post("/v1/widgets", json={"name": "x", "amount": 1}, headers=finance)
    assert r.status_code == 403 and r.json()["error"]["code"] == "insufficient_scope"

    created = (await client.post("/v1/widgets", json={"name": "x", "amount": 1}, headers=a)).json()
    assert (await client.get(f"/v1/widgets/{created['id']}", headers=a)).status_code == 200
    other = await client.get(f"/v1/widgets/{created['id']}", headers=b)
    assert other.status_code == 404 and other.json()["error"]["code"] == "widget_not_found"


async def test_bad_input_gets_a_typed_error(
    client: httpx.AsyncClient, identity: AsyncEngine
) -> None:
    a = await key(identity, "tenant-a", "platform")
    r = await client.post("/v1/widgets", json={"name": "x"}, headers=a)
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "validation_error"
    assert r.json()["error"]["details"][0]["loc"] == ["body", "amount"]
    r = await client.get("/v1/nothing-here", headers=a)
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"


async def test_idempotency_key_replays_and_refuses_reuse(
    client: httpx.AsyncClient, identity: AsyncEngine
) -> None:
    a = await key(identity, "tenant-a", "platform")
    b = await key(identity, "tenant-b", "platform")
    idem = {"Idempotency-Key": str(uuid.uuid4())}
    name = f"n-{uuid.uuid4()}"

    first = await client.post("/v1/widgets", json={"name": name, "amount": 5}, headers=a | idem)
    again = await client.post("/v1/widgets", json={"amount": 5, "name": name}, headers=a | idem)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert calls.count(name) == 1

    reused = await client.post("/v1/widgets", json={"name": name, "amount": 6}, headers=a | idem)
    assert reused.status_code == 422 and reused.json()["error"]["code"] == "idempotency_key_reused"

    # Keys belong to the API key that sent them: another tenant's same key is a new request.
    theirs = await client.post("/v1/widgets", json={"name": name, "amount": 5}, headers=b | idem)
    assert theirs.status_code == 201 and theirs.json()["id"] != first.json()["id"]

    # A domain error is remembered too (it started executing), a validation error is not.
    idem2 = {"Idempotency-Key": str(uuid.uuid4())}
    bad = await client.post("/v1/widgets", json={"name": "z", "amount": 0}, headers=a | idem2)
    assert bad.json()["error"]["code"] == "amount_not_positive"
    replay = await client.post("/v1/widgets", json={"name": "z", "amount": 0}, headers=a | idem2)
    assert replay.headers.get("Idempotent-Replayed") == "true"
    idem3 = {"Idempotency-Key": str(uuid.uuid4())}
    await client.post("/v1/widgets", json={"name": "z"}, headers=a | idem3)
    fixed = await client.post("/v1/widgets", json={"name": "z", "amount": 2}, headers=a | idem3)
    assert fixed.status_code == 201


async def test_correlation_ids_are_echoed_or_minted(client: httpx.AsyncClient) -> None:
    given = str(uuid.uuid4())
    r = await client.get("/healthz", headers={"X-Correlation-Id": given})
    assert r.headers["X-Correlation-Id"] == given
    minted = (await client.get("/healthz", headers={"X-Correlation-Id": "not-a-uuid"})).headers
    assert uuid.UUID(minted["X-Correlation-Id"]).version == 7


async def test_health_and_metrics(client: httpx.AsyncClient, backbone_engine: AsyncEngine) -> None:
    for path in ("/healthz", "/healthz/ready"):
        r = await client.get(path)
        assert r.status_code == 200
        assert r.json() == {
            "service": "test",
            "status": "ok",
            "checks": {"database": "ok", "identity": "ok", "kafka": "ok"},
            "blocking": ["database", "identity"],
        }
    live = await client.get("/healthz/live")
    assert live.status_code == 200 and live.json() == {"service": "test", "status": "ok"}
    m = await client.get("/metrics")
    assert "tradeflow_http_requests_total" in m.text


async def test_kafka_down_leaves_the_api_ready_and_live(
    settings: Settings, backbone_engine: AsyncEngine, identity: AsyncEngine
) -> None:
    """The API writes events to its outbox, not to Kafka: a broker outage is reported, and
    the instance stays ready (it was 503 for as long as Kafka was away)."""
    nobody = "127.0.0.1:1"  # nothing listens there: a broker that is down

    async def bootstrap() -> _Container:
        producer = make_producer(nobody)  # never started: the broker cannot be reached
        runtime = Runtime("test", settings, backbone_engine, producer, SystemClock(), identity)
        return _Container(runtime)

    app = create_service_app(service="test", bootstrap=bootstrap, routers=[router])
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
            for path in ("/healthz", "/healthz/ready"):
                r = await c.get(path)
                assert r.status_code == 200, r.text
                body = r.json()
                assert body["status"] == "degraded" and body["checks"]["database"] == "ok"
                assert body["checks"]["kafka"].startswith("error")
            assert (await c.get("/healthz/live")).status_code == 200


async def test_an_unreachable_identity_database_makes_the_api_unready(
    settings: Settings, backbone_engine: AsyncEngine
) -> None:
    """Every request authenticates against the identity database: without it the instance
    can serve nothing but 503s, so it must not be routed to (it stays live)."""
    nowhere = make_engine("postgresql+asyncpg://tradeflow:tradeflow@127.0.0.1:1/identity")

    async def bootstrap() -> _Container:
        producer = make_producer(settings.kafka_bootstrap_servers)
        await producer.start()
        runtime = Runtime("test", settings, backbone_engine, producer, SystemClock(), nowhere)
        return _Container(runtime)

    app = create_service_app(service="test", bootstrap=bootstrap, routers=[router])
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
                r = await c.get("/healthz/ready")
                assert r.status_code == 503, r.text
                assert r.headers["Retry-After"] == "1"
                assert r.json()["checks"]["identity"].startswith("error")
                assert r.json()["checks"]["database"] == "ok"
                assert (await c.get("/healthz/live")).status_code == 200
                w = await c.post("/v1/widgets", json={"name": "x", "amount": 1},
                                 headers={"Authorization": "Bearer tf_whatever"})  # fmt: skip
                assert w.status_code == 503 and w.json()["error"]["code"] == "service_unavailable"
    finally:
        await nowhere.dispose()


async def test_idempotency_keeps_failures_after_the_endpoint_ran_and_checks_the_api_key(
    client: httpx.AsyncClient, identity: AsyncEngine
) -> None:
    tenant = f"t-{uuid.uuid4().hex[:6]}"
    a = await key(identity, tenant, "platform")
    idem = {"Idempotency-Key": str(uuid.uuid4())}

    # A failure after the endpoint ran is replayed, never run again.
    first = await client.post("/v1/widgets/explode", headers=a | idem)
    again = await client.post("/v1/widgets/explode", headers=a | idem)
    assert first.status_code == again.status_code == 500
    assert again.json()["error"]["code"] == "internal_error"
    assert again.headers["Idempotent-Replayed"] == "true"
    assert calls.count(f"explode:{tenant}:error") == 1

    # The query string is part of the request.
    other = await client.post("/v1/widgets/explode?mode=other", headers=a | idem)
    assert other.json()["error"]["code"] == "idempotency_key_reused"

    # A revoked key gets no replay of what it stored before.
    async with identity.begin() as conn:
        raw = a["Authorization"].removeprefix("Bearer ")
        await revoke_api_key(conn, key_ids[raw], actor="test")
    revoked = await client.post("/v1/widgets/explode", headers=a | idem)
    assert revoked.status_code == 401 and "Idempotent-Replayed" not in revoked.headers


async def test_a_supplier_key_acts_for_its_own_supplier_only(
    client: httpx.AsyncClient, identity: AsyncEngine
) -> None:
    s1 = await key(identity, "tenant-a", "supplier", party="s1")
    s2 = await key(identity, "tenant-a", "supplier", party="s2")
    assert (await client.get("/v1/widgets/whoami", headers=s1)).json() == {
        "party": "s1",
        "acts_for_s1": True,
    }
    assert (await client.get("/v1/widgets/whoami", headers=s2)).json() == {
        "party": "s2",
        "acts_for_s1": False,
    }


async def test_an_answer_given_before_any_endpoint_ran_does_not_take_the_key(
    client: httpx.AsyncClient, identity: AsyncEngine
) -> None:
    """A redirect (a trailing slash), an unknown path or a method the path does not take:
    no endpoint ran, so the Idempotency-Key stays free for the request the client meant,
    as HTTP clients send it next (following the 307 with the same headers)."""
    a = await key(identity, f"t-{uuid.uuid4().hex[:6]}", "platform")
    body = {"name": f"n-{uuid.uuid4()}", "amount": 5}
    for method, path, status in (
        ("POST", "/v1/widgets/", 307),
        ("POST", "/v1/widget", 404),
        ("PUT", "/v1/widgets", 405),
    ):
        idem = {"Idempotency-Key": str(uuid.uuid4())}
        missed = await client.request(method, path, json=body, headers=a | idem)
        assert missed.status_code == status, missed.text
        meant = await client.post("/v1/widgets", json=body, headers=a | idem)
        assert meant.status_code == 201, (path, meant.text)
        assert "Idempotent-Replayed" not in meant.headers
