"""Webhooks hardening over HTTP on real PostgreSQL: the signing secret is shown once, also
to a retry with the same Idempotency-Key; ports outside the allowed ones are refused."""

from __future__ import annotations

import uuid

import pytest

from tests.integration.webhooks.conftest import Hooks

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("path", ["create", "rotate"])
async def test_a_replay_of_create_or_rotate_never_shows_the_secret_again(
    hooks: Hooks, path: str
) -> None:
    body = {"url": hooks.receiver.url("/in"), "enabled_events": ["escrow.*"]}
    url = "/v1/webhook-endpoints"
    if path == "rotate":
        url = f"{url}/{(await hooks.endpoint('/in'))['id']}/rotate-secret"
        body = {}
    headers = {**hooks.platform, "Idempotency-Key": str(uuid.uuid4())}
    first = await hooks.client.post(url, json=body, headers=headers)
    assert first.status_code in (200, 201), first.text
    secret = first.json()["secret"]
    assert secret.startswith("whsec_")
    again = await hooks.client.post(url, json=body, headers=headers)
    assert again.status_code == 409 and again.json()["error"]["code"] == "secret_shown_once"
    assert secret not in again.text and "secret" not in again.json()["error"]["details"]["resource"]
    assert again.json()["error"]["details"]["resource"]["id"] == first.json()["id"]


async def test_a_public_host_on_a_port_not_allowed_is_refused(hooks: Hooks) -> None:
    r = await hooks.post(
        "/v1/webhook-endpoints",
        {"url": "https://hooks.example.com:6379/in", "enabled_events": ["*"]},
    )
    assert r.status_code == 422 and r.json()["error"]["code"] == "url_not_allowed", r.text
