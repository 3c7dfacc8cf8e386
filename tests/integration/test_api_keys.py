"""API keys managed over /v1/api-keys, on the three real services sharing one identity database.

A change made through any service holds on all of them on the very next request: a revoked
key is 401 on every route of every service, a rotated key lives out its overlap and is then
refused; a tenant manages only its own keys; no key grants more than its issuer holds.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from services.escrow.bootstrap import DEFINITION as ESCROW
from services.financing.bootstrap import DEFINITION as FINANCING
from services.ledger.bootstrap import DEFINITION as LEDGER
from services.runner import create_app
from shared.db import idempotency_keys
from shared.identity.keys import hash_key
from shared.identity.tables import api_keys
from shared.settings import SERVICES, Settings
from tests.support.keys import bearer, new_key

pytestmark = pytest.mark.integration


@dataclass
class Services:
    apps: dict[str, FastAPI]
    clients: dict[str, httpx.AsyncClient]
    identity: AsyncEngine
    engines: dict[str, AsyncEngine]

    async def call(
        self, service: str, method: str, path: str, who: dict[str, str], body: Any = None
    ) -> httpx.Response:
        return await self.clients[service].request(method, path, json=body, headers=who)

    async def status_everywhere(self, who: dict[str, str]) -> set[int]:
        """The answers of GET /v1/api-keys on all three services (200 or 401 or 403)."""
        return {(await self.call(s, "GET", "/v1/api-keys", who)).status_code for s in SERVICES}


@pytest.fixture(scope="module")
async def services(
    migrated: Settings, identity: AsyncEngine, service_engines: dict[str, AsyncEngine]
) -> AsyncIterator[Services]:
    apps: dict[str, FastAPI] = {}
    clients: dict[str, httpx.AsyncClient] = {}
    async with AsyncExitStack() as stack:
        for definition in (ESCROW, LEDGER, FINANCING):
            app = create_app(definition, migrated)  # the real bootstrap, identity engine included
            await stack.enter_async_context(app.router.lifespan_context(app))
            transport = httpx.ASGITransport(app=app)
            clients[definition.name] = await stack.enter_async_context(
                httpx.AsyncClient(transport=transport, base_url=f"http://{definition.name}")
            )
            apps[definition.name] = app
        yield Services(apps, clients, identity, service_engines)


@dataclass
class Tenant:
    id: str
    admin: dict[str, str]  # platform + finance, issued by the operator
    platform: dict[str, str]  # platform only


@pytest.fixture
async def tenant(identity: AsyncEngine) -> Tenant:
    t = f"tk-{uuid.uuid4().hex[:8]}"
    admin = bearer(await new_key(identity, t, ["platform", "finance"], "admin"))
    platform = bearer(await new_key(identity, t, ["platform"], "integration"))
    return Tenant(t, admin, platform)


async def issue(
    services: Services, tenant: Tenant, scopes: list[str], party: str | None = None
) -> dict[str, Any]:
    body = {"name": f"key-{uuid.uuid4().hex[:6]}", "scopes": scopes}
    if party:
        body["party_id"] = party
    r = await services.call("escrow", "POST", "/v1/api-keys", tenant.admin, body)
    assert r.status_code == 201, r.text
    return dict(r.json())


async def expire_now(identity: AsyncEngine, key_id: str) -> None:
    """Move a key past its expiry without sleeping: the database clock decides validity."""
    async with identity.begin() as conn:
        await conn.execute(
            api_keys.update()
            .where(api_keys.c.key_id == key_id)
            .values(expires_at=sa.func.now() - timedelta(seconds=1))
        )


def every_route(app: FastAPI) -> list[tuple[str, str]]:
    """Every authenticated /v1 route of a service (webhooks authenticate by signature)."""
    routes = []
    for template, operations in app.openapi()["paths"].items():
        if template.startswith("/v1/") and not template.startswith("/v1/webhooks"):
            path = re.sub(r"\{[^}]+\}", "x", template)
            routes += [(method.upper(), path) for method in sorted(operations)]
    return routes


async def test_a_key_is_issued_once_listed_without_its_secret_and_valid_everywhere(
    services: Services, tenant: Tenant
) -> None:
    r = await services.call(
        "escrow", "POST", "/v1/api-keys", tenant.admin, {"name": "backend", "scopes": ["platform"]}
    )
    assert r.status_code == 201, r.text
    assert r.headers["cache-control"] == "no-store"
    created = r.json()
    raw = created["key"]
    assert raw.startswith("tf_") and created["key_id"].startswith("key_")
    assert created["hint"] == raw[-4:]
    assert (created["status"], created["created_by"]) == ("active", "apikey:admin")
    assert (created["tenant_id"], created["scopes"], created["party_id"]) == (
        tenant.id,
        ["platform"],
        None,
    )

    assert await services.status_everywhere(bearer(raw)) == {200}
    listed = await services.call("ledger", "GET", "/v1/api-keys", tenant.admin)
    assert raw not in listed.text and hash_key(raw) not in listed.text
    mine = next(k for k in listed.json()["data"] if k["key_id"] == created["key_id"])
    assert "key" not in mine and "key_hash" not in mine
    assert mine["last_used_at"] is not None  # it was just used
    async with services.identity.connect() as conn:
        row = (
            await conn.execute(sa.select(api_keys).where(api_keys.c.key_id == created["key_id"]))
        ).one()
    assert row.key_hash == hash_key(raw) and raw not in repr(tuple(row))


async def test_a_revoked_key_is_refused_on_every_route_of_every_service_at_once(
    services: Services, tenant: Tenant
) -> None:
    victim = await issue(services, tenant, ["platform", "finance", "supplier"], party="s1")
    who = bearer(victim["key"])
    assert await services.status_everywhere(who) == {200}

    r = await services.call(
        "financing", "POST", f"/v1/api-keys/{victim['key_id']}/revoke", tenant.admin
    )
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["revoked_by"]) == ("revoked", "apikey:admin")

    for service, app in services.apps.items():
        routes = every_route(app)
        assert ("POST", "/v1/api-keys") in routes and len(routes) > 5
        for method, path in routes:
            body = None if method == "GET" else {}
            answer = await services.call(service, method, path, who, body)
            assert answer.status_code == 401, (service, method, path, answer.text)
            assert answer.json()["error"]["code"] == "unauthenticated"

    again = await services.call(
        "ledger", "POST", f"/v1/api-keys/{victim['key_id']}/revoke", tenant.admin
    )
    assert again.status_code == 200  # revoking twice changes nothing
    assert again.json()["revoked_at"] == r.json()["revoked_at"]


async def test_a_revoked_key_cannot_replay_its_idempotent_response(
    services: Services, tenant: Tenant
) -> None:
    key = await issue(services, tenant, ["finance"])
    who = bearer(key["key"]) | {"Idempotency-Key": uuid.uuid4().hex}
    policy = {"advance_rate_bps": 7_000, "daily_fee_rate": "0.0004"}
    first = await services.call("financing", "PUT", "/v1/policies/USD", who, policy)
    replay = await services.call("financing", "PUT", "/v1/policies/USD", who, policy)
    assert first.status_code == replay.status_code == 200
    assert replay.headers["Idempotent-Replayed"] == "true"

    revoked = await services.call(
        "escrow", "POST", f"/v1/api-keys/{key['key_id']}/revoke", tenant.admin
    )
    assert revoked.status_code == 200
    refused = await services.call("financing", "PUT", "/v1/policies/USD", who, policy)
    assert refused.status_code == 401 and "Idempotent-Replayed" not in refused.headers


async def test_rotation_keeps_both_keys_valid_through_the_overlap_then_refuses_the_old(
    services: Services, tenant: Tenant
) -> None:
    old = await issue(services, tenant, ["platform"])
    r = await services.call(
        "ledger",
        "POST",
        f"/v1/api-keys/{old['key_id']}/rotate",
        tenant.admin,
        {"overlap_seconds": 3_600},
    )
    assert r.status_code == 201, r.text
    assert r.headers["cache-control"] == "no-store"
    new, previous = r.json()["api_key"], r.json()["previous"]
    assert new["rotated_from"] == old["key_id"] and new["key"] != old["key"]
    for field in ("tenant_id", "scopes", "party_id", "name"):
        assert new[field] == old[field]
    assert previous["status"] == "expiring"
    expires = datetime.fromisoformat(previous["expires_at"]) - datetime.fromisoformat(
        new["created_at"]
    )
    assert timedelta(minutes=59) < expires <= timedelta(hours=1)

    assert await services.status_everywhere(bearer(old["key"])) == {200}
    assert await services.status_everywhere(bearer(new["key"])) == {200}

    await expire_now(services.identity, old["key_id"])  # the overlap is over
    assert await services.status_everywhere(bearer(old["key"])) == {401}
    assert await services.status_everywhere(bearer(new["key"])) == {200}

    late = await services.call(
        "escrow", "POST", f"/v1/api-keys/{old['key_id']}/rotate", tenant.admin
    )
    assert late.status_code == 409 and late.json()["error"]["code"] == "api_key_inactive"


async def test_a_rotation_without_overlap_refuses_the_old_key_at_once_and_happens_once(
    services: Services, tenant: Tenant
) -> None:
    old = await issue(services, tenant, ["platform"])
    path = f"/v1/api-keys/{old['key_id']}/rotate"
    r = await services.call("financing", "POST", path, tenant.admin, {"overlap_seconds": 0})
    assert r.status_code == 201, r.text
    assert r.json()["previous"]["status"] == "expired"
    assert await services.status_everywhere(bearer(old["key"])) == {401}
    assert await services.status_everywhere(bearer(r.json()["api_key"]["key"])) == {200}

    overlapping = await issue(services, tenant, ["platform"])
    path = f"/v1/api-keys/{overlapping['key_id']}/rotate"
    assert (await services.call("escrow", "POST", path, tenant.admin)).status_code == 201
    twice = await services.call("escrow", "POST", path, tenant.admin)
    assert twice.status_code == 409 and twice.json()["error"]["code"] == "api_key_already_rotated"
    bad = await services.call("escrow", "POST", path, tenant.admin, {"overlap_seconds": -1})
    assert bad.status_code == 422


async def test_a_retry_sent_with_the_successor_of_a_rotated_key_is_not_run_again(
    services: Services, tenant: Tenant
) -> None:
    """Rotation hands the client a successor to deploy. A write whose answer was lost just
    before the switch is retried with the successor and the same Idempotency-Key: it must
    get the first execution's answer, not post the adjustment to the books a second time,
    through any number of rotations and after the first key is revoked."""
    old = await issue(services, tenant, ["finance"])
    idem = {"Idempotency-Key": uuid.uuid4().hex}
    adjustment = {
        "reason": f"opening balance {uuid.uuid4().hex[:6]}",
        "lines": [
            {"account": "bank", "currency": "USD", "debit": 4_200},
            {"account": "suspense", "currency": "USD", "credit": 4_200},
        ],
    }
    # a request (maker-checker: the ledger's adjustments wait for a second finance user)
    path = "/v1/ledger/adjustment-requests"
    first = await services.call("ledger", "POST", path, bearer(old["key"]) | idem, adjustment)
    assert first.status_code == 201, first.text

    successors, current = [], old
    for _ in range(2):
        rotate = f"/v1/api-keys/{current['key_id']}/rotate"
        r = await services.call("escrow", "POST", rotate, tenant.admin, {"overlap_seconds": 600})
        assert r.status_code == 201, r.text
        current = r.json()["api_key"]
        successors.append(current)
    revoked = f"/v1/api-keys/{old['key_id']}/revoke"
    assert (await services.call("escrow", "POST", revoked, tenant.admin)).status_code == 200

    for successor in successors:
        retry = await services.call(
            "ledger", "POST", path, bearer(successor["key"]) | idem, adjustment
        )
        assert retry.status_code == 201, retry.text
        assert retry.headers.get("Idempotent-Replayed") == "true"
        assert retry.json() == first.json()
    refused = await services.call("ledger", "POST", path, bearer(old["key"]) | idem, adjustment)
    assert refused.status_code == 401 and "Idempotent-Replayed" not in refused.headers

    # Another key of the tenant is another client: its key of the same name is its own.
    theirs = await services.call("ledger", "POST", path, tenant.admin | idem, adjustment)
    assert theirs.status_code == 201 and "Idempotent-Replayed" not in theirs.headers
    assert theirs.json()["id"] != first.json()["id"]


async def test_a_tenant_sees_and_manages_only_its_own_keys(
    services: Services, tenant: Tenant, identity: AsyncEngine
) -> None:
    mine = await issue(services, tenant, ["platform"])
    other = bearer(await new_key(identity, f"other-{tenant.id}", ["platform", "finance"], "x"))

    listed = await services.call("escrow", "GET", "/v1/api-keys", other)
    assert listed.status_code == 200
    assert {k["tenant_id"] for k in listed.json()["data"]} == {f"other-{tenant.id}"}
    assert mine["key_id"] not in listed.text
    for action in ("revoke", "rotate"):
        r = await services.call("ledger", "POST", f"/v1/api-keys/{mine['key_id']}/{action}", other)
        assert r.status_code == 404 and r.json()["error"]["code"] == "api_key_not_found"
    assert await services.status_everywhere(bearer(mine["key"])) == {200}


async def test_no_key_grants_more_than_its_issuer_holds(services: Services, tenant: Tenant) -> None:
    def create(scopes: list[str], party: str | None = None) -> dict[str, Any]:
        return {"name": "k", "scopes": scopes} | ({"party_id": party} if party else {})

    before = len(
        (await services.call("escrow", "GET", "/v1/api-keys", tenant.admin)).json()["data"]
    )
    refused = await services.call(
        "escrow", "POST", "/v1/api-keys", tenant.platform, create(["finance"])
    )
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "insufficient_scope"
    for body, code in (
        (create(["supplier"]), "party_required"),
        (create(["platform"], "s1"), "party_without_supplier_scope"),
        (create(["root"]), "validation_error"),
        (create([]), "validation_error"),
    ):
        r = await services.call("escrow", "POST", "/v1/api-keys", tenant.platform, body)
        assert r.status_code == 422 and r.json()["error"]["code"] == code, r.text
    after = len((await services.call("escrow", "GET", "/v1/api-keys", tenant.admin)).json()["data"])
    assert after == before  # refusals change nothing

    ok = await services.call(
        "escrow", "POST", "/v1/api-keys", tenant.platform, create(["platform", "supplier"], "s1")
    )
    assert ok.status_code == 201, ok.text

    # Managing a finance key is holding finance: a platform-only key can neither rotate
    # it (that would hand it a finance key) nor revoke it.
    finance = await issue(services, tenant, ["finance"])
    for action in ("rotate", "revoke"):
        r = await services.call(
            "financing", "POST", f"/v1/api-keys/{finance['key_id']}/{action}", tenant.platform
        )
        assert r.status_code == 403 and r.json()["error"]["code"] == "insufficient_scope"
    assert await services.status_everywhere(bearer(finance["key"])) == {403}  # valid, no platform

    supplier = await issue(services, tenant, ["supplier"], party="s1")
    assert await services.status_everywhere(bearer(supplier["key"])) == {403}


async def test_a_supplier_key_keeps_its_supplier_through_rotation(
    services: Services, tenant: Tenant
) -> None:
    old = await issue(services, tenant, ["supplier"], party="supplier-7")
    r = await services.call(
        "escrow",
        "POST",
        f"/v1/api-keys/{old['key_id']}/rotate",
        tenant.admin,
        {"overlap_seconds": 0},
    )
    assert r.status_code == 201, r.text
    new = r.json()["api_key"]
    assert (new["party_id"], new["scopes"]) == ("supplier-7", ["supplier"])
    who = bearer(new["key"])
    for service, path in (("financing", "/v1/advances"), ("escrow", "/v1/orders")):
        own = await services.call(service, "GET", f"{path}?supplier_id=supplier-7", who)
        assert own.status_code == 200, own.text
        theirs = await services.call(service, "GET", f"{path}?supplier_id=supplier-8", who)
        assert theirs.status_code == 403 and theirs.json()["error"]["code"] == "party_mismatch"


async def test_an_issued_key_is_not_kept_by_the_idempotency_store(
    services: Services, tenant: Tenant
) -> None:
    """The answer showing a new key is the one answer never kept: a retry with the same
    Idempotency-Key learns what was issued (to revoke it) but neither sees the key again nor
    gets a second one."""
    who = tenant.admin | {"Idempotency-Key": uuid.uuid4().hex}
    body = {"name": "ci", "scopes": ["platform"]}
    r = await services.call("escrow", "POST", "/v1/api-keys", who, body)
    assert r.status_code == 201
    issued = r.json()
    async with services.engines["escrow"].connect() as conn:
        bodies = (await conn.execute(sa.select(idempotency_keys.c.response_body))).scalars()
        assert not any(issued["key"].encode() in (b or b"") for b in bodies)
    again = await services.call("escrow", "POST", "/v1/api-keys", who, body)
    assert again.status_code == 409, again.text
    assert again.json()["error"]["code"] == "secret_shown_once"
    assert again.json()["error"]["details"]["resource"]["key_id"] == issued["key_id"]
    assert "key" not in again.json()["error"]["details"]["resource"]
    assert issued["key"] not in again.text
    listed = await services.call("escrow", "GET", "/v1/api-keys", tenant.admin)
    assert sum(1 for k in listed.json()["data"] if k["name"] == "ci") == 1


async def test_a_key_of_any_scope_learns_whom_it_acts_for_on_every_service(
    services: Services, tenant: Tenant, identity: AsyncEngine
) -> None:
    supplier = await issue(services, tenant, ["supplier"], party="supplier-7")
    finance = await issue(services, tenant, ["finance"])
    for issued, scopes, party in (
        (supplier, ["supplier"], "supplier-7"),
        (finance, ["finance"], None),
    ):
        for service in SERVICES:
            r = await services.call(service, "GET", "/v1/api-keys/current", bearer(issued["key"]))
            assert r.status_code == 200, r.text
            me = r.json()
            assert (me["key_id"], me["tenant_id"], me["scopes"], me["party_id"]) == (
                issued["key_id"], tenant.id, scopes, party,
            )  # fmt: skip
            assert "key" not in me and "key_hash" not in me
    await expire_now(identity, supplier["key_id"])
    r = await services.call("ledger", "GET", "/v1/api-keys/current", bearer(supplier["key"]))
    assert r.status_code == 401
    r = await services.call("ledger", "GET", "/v1/api-keys/current", {})
    assert r.status_code == 401
