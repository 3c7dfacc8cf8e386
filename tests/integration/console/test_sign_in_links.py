"""Sign-in links over the real APIs: a key makes a link for itself, the link signs in once,
until its end, and carries no key; what sign-in refuses, a link refuses too."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI

from services.console.entrypoints.http.app import create_console_app
from shared.clock import ManualClock
from tests.integration.console.conftest import Browser, csrf_of, raw
from tests.support.keys import revoke
from tests.support.stack import Stack, Tenant

pytestmark = pytest.mark.integration


async def make_link(client: httpx.AsyncClient, key: str) -> httpx.Response:
    return await client.post("/sign-in-links", headers={"Authorization": f"Bearer {key}"})


async def use(client: httpx.AsyncClient, path: str) -> httpx.Response:
    page = await client.get(path)
    assert page.status_code == 200, page.text
    token = path.split("token=", 1)[1]
    return await client.post(
        "/sign-in/link", data={"token": token, "csrf_token": csrf_of(page.text)}
    )


async def test_a_link_signs_in_its_key_once_and_holds_no_key(
    browser: Browser, prepared: Tenant
) -> None:
    key = raw(prepared.keys["finance"])
    made = await make_link(browser(), key)
    assert made.status_code == 201, made.text
    body = made.json()
    assert body["role"] == "finance" and body["tenant_id"] == prepared.id
    assert body["single_use"] is True
    assert key not in made.text.replace(body["key_name"], "")
    path = body["path"]
    assert path.startswith("/sign-in/link?token=") and key not in path
    someone = browser()
    # Looking at the link changes nothing: it can still be used after two looks. The page
    # says whom it signs in as (no one is signed in to another tenant unawares).
    look = await someone.get(path)
    assert look.status_code == 200
    assert f"{body['key_name']} (finance) of tenant {prepared.id}" in look.text
    r = await use(someone, path)
    assert r.status_code == 303 and r.headers["location"] == "/finance/trial-balance"
    assert "__Host" not in r.headers["set-cookie"] and "HttpOnly" in r.headers["set-cookie"]
    assert key not in r.headers["set-cookie"]
    assert (await someone.get("/finance/trial-balance")).status_code == 200
    # Used: refused, to anyone, with a page that says so.
    other = browser()
    again = await other.get(path)
    assert again.status_code == 410 and "already used" in again.text
    posted = await other.post("/sign-in/link", data={"token": path.split("=", 1)[1],
                                                     "csrf_token": csrf_of((await other.get("/sign-in")).text)})  # fmt: skip
    assert posted.status_code == 410
    assert (await other.get("/finance/trial-balance")).status_code == 303  # not signed in


async def test_each_role_lands_on_its_own_view(browser: Browser, prepared: Tenant) -> None:
    for role, home in (("platform", "/orders"), ("supplier", "/supplier")):
        made = await make_link(browser(), raw(prepared.keys[role]))
        assert made.status_code == 201, made.text
        r = await use(browser(), made.json()["path"])
        assert r.status_code == 303 and r.headers["location"] == home


async def test_what_sign_in_refuses_no_link_is_made_for(browser: Browser, prepared: Tenant) -> None:
    client = browser()
    assert (await client.post("/sign-in-links")).status_code == 401
    for bad in ("tf_not_a_key", raw(prepared.keys["revoked"])):
        r = await make_link(client, bad)
        assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_api_key"


async def test_a_changed_token_is_refused(browser: Browser, prepared: Tenant) -> None:
    made = await make_link(browser(), raw(prepared.keys["finance"]))
    path = made.json()["path"]
    client = browser()
    r = await client.get(path[:-3] + ("AAA" if not path.endswith("AAA") else "BBB"))
    assert r.status_code == 400 and "not a sign-in link" in r.text
    r = await client.get("/sign-in/link")
    assert r.status_code == 400


@pytest.fixture
async def clock() -> ManualClock:
    return ManualClock(datetime.now(UTC))


@pytest.fixture
async def timed_console(stack: Stack, clock: ManualClock) -> AsyncIterator[FastAPI]:
    settings = stack.settings.model_copy(
        update={"environment": "test", "console_link_seconds": 600}
    )
    transports = {s: httpx.ASGITransport(app=a) for s, a in stack.apps.items()}
    app = create_console_app(settings, transports, clock)
    async with app.router.lifespan_context(app):
        yield app


async def test_an_expired_link_is_refused_with_its_own_page(
    timed_console: FastAPI, clock: ManualClock, prepared: Tenant
) -> None:
    transport = httpx.ASGITransport(app=timed_console)
    async with httpx.AsyncClient(transport=transport, base_url="https://c.test") as client:
        path = (await make_link(client, raw(prepared.keys["finance"]))).json()["path"]
        page = await client.get(path)
        clock.advance(timedelta(seconds=600))
        r = await client.post("/sign-in/link", data={"token": path.split("=", 1)[1],
                                                     "csrf_token": csrf_of(page.text)})  # fmt: skip
        assert r.status_code == 410 and "expired" in r.text
        assert (await client.get(path)).status_code == 410


async def test_a_key_revoked_after_its_link_was_made_signs_nobody_in(
    browser: Browser, stack: Stack
) -> None:
    tenant = await stack.prepare()
    made = await make_link(browser(), raw(tenant.keys["platform"]))
    await revoke(stack.identity, raw(tenant.keys["platform"]))
    client = browser()
    r = await use(client, made.json()["path"])
    assert r.status_code == 401 and "no longer works" in r.text
    assert (await client.get("/orders")).status_code == 303
