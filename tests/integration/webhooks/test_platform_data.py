"""Endpoints' metadata and external_reference, and the lists' shared cursor pages."""

from __future__ import annotations

import uuid

import pytest

from tests.integration.webhooks.conftest import Hooks

pytestmark = pytest.mark.integration


async def test_metadata_merges_and_the_reference_is_unique_per_tenant(hooks: Hooks) -> None:
    ref = f"hook-{uuid.uuid4().hex[:8]}"
    made = await hooks.endpoint("/ok/md", metadata={"a": "1", "b": "2"}, external_reference=ref)
    assert made["metadata"] == {"a": "1", "b": "2"} and made["external_reference"] == ref
    url = f"/v1/webhook-endpoints/{made['id']}"
    r = await hooks.client.patch(
        url, json={"metadata": {"a": "", "c": "3"}}, headers=hooks.platform
    )
    assert r.status_code == 200 and r.json()["metadata"] == {"b": "2", "c": "3"}
    assert r.json()["external_reference"] == ref
    dup = await hooks.post(
        "/v1/webhook-endpoints",
        {"url": hooks.receiver.url("/ok/dup"), "enabled_events": ["*"], "external_reference": ref},
    )
    assert dup.status_code == 409 and dup.json()["error"]["code"] == "duplicate_external_reference"
    theirs = await hooks.post(
        "/v1/webhook-endpoints",
        {"url": hooks.receiver.url("/ok/t"), "enabled_events": ["*"], "external_reference": ref},
        hooks.other_tenant,
    )
    assert theirs.status_code == 201  # another tenant's namespace
    other = await hooks.endpoint("/ok/other")
    r = await hooks.client.patch(
        f"/v1/webhook-endpoints/{other['id']}",
        json={"external_reference": ref, "description": "x"},
        headers=hooks.platform,
    )
    assert r.status_code == 409 and r.json()["error"]["code"] == "duplicate_external_reference"
    got = await hooks.client.get(f"/v1/webhook-endpoints/{other['id']}", headers=hooks.platform)
    assert got.json()["description"] == "" and got.json()["external_reference"] is None
    r = await hooks.client.patch(url, json={"external_reference": None}, headers=hooks.platform)
    assert r.json()["external_reference"] is None


@pytest.mark.parametrize(
    "metadata", [{f"k{i}": "v" for i in range(51)}, {"k" * 41: "v"}, {"k": "v" * 501}, {"k": 1}]
)
async def test_metadata_beyond_the_limits_is_a_typed_400(hooks: Hooks, metadata: object) -> None:
    r = await hooks.post(
        "/v1/webhook-endpoints",
        {"url": hooks.receiver.url("/ok/x"), "enabled_events": ["*"], "metadata": metadata},
    )
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_metadata", r.text


async def test_lists_are_stripes_shape_and_a_foreign_cursor_leaks_nothing(hooks: Hooks) -> None:
    mine = await hooks.endpoint("/ok/l1")
    theirs = (
        await hooks.post(
            "/v1/webhook-endpoints",
            {"url": hooks.receiver.url("/ok/l2"), "enabled_events": ["*"]},
            hooks.other_tenant,
        )
    ).json()
    page = (await hooks.client.get("/v1/webhook-endpoints", headers=hooks.platform)).json()
    assert page["object"] == "list" and page["url"] == "/v1/webhook-endpoints"
    assert mine["id"] in [e["id"] for e in page["data"]]
    r = await hooks.client.get(
        "/v1/webhook-endpoints", params={"starting_after": theirs["id"]}, headers=hooks.platform
    )
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_cursor"
    log = (await hooks.deliveries(mine["id"])).json()
    assert log["url"] == f"/v1/webhook-endpoints/{mine['id']}/deliveries"
    r = await hooks.client.get(
        "/v1/webhook-endpoints", params={"limit": 101}, headers=hooks.platform
    )
    assert r.status_code == 422 and r.json()["error"]["code"] == "validation_error"
