"""How often a request asks the identity database about its key (shared/http/auth.py):
once per request, never once for several; the rotation lineage, which cannot change, once
per process. Validity against the real database: tests/integration/test_api_keys.py."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest

from shared.http import auth
from shared.identity.keys import ApiKey


class FakeIdentity:
    url = "postgresql://identity-under-test"

    def execution_options(self, **_: Any) -> FakeIdentity:
        return self

    def connect(self) -> FakeIdentity:
        return self

    async def __aenter__(self) -> FakeIdentity:
        return self

    async def __aexit__(self, *_: Any) -> None:
        return None


def key(key_id: str = "key_1") -> ApiKey:
    now = datetime.now(UTC)
    return ApiKey(key_id, "acme", ("platform",), None, "backend", None, "active", now, "test",
                  None, None, None, None, None)  # fmt: skip


def request(identity: FakeIdentity) -> Any:
    app = SimpleNamespace(state=SimpleNamespace(identity=identity))
    return SimpleNamespace(scope={}, app=app)


async def test_a_request_asks_once_and_the_next_request_asks_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    asked: list[str] = []
    valid = {"tf_live": key()}

    async def find_active(conn: Any, raw: str) -> ApiKey | None:
        asked.append(raw)
        return valid.get(raw)

    monkeypatch.setattr(auth, "find_active", find_active)
    identity = FakeIdentity()
    first = request(identity)
    assert (await auth.active_principal(first, "tf_live")) is not None
    assert (await auth.active_principal(first, "tf_live")) is not None  # requires(): reused
    assert asked == ["tf_live"]
    assert await auth.active_principal(first, "tf_other") is None  # another key: asked
    del valid["tf_live"]  # revoked: the next request is refused
    assert await auth.active_principal(request(identity), "tf_live") is None
    assert asked == ["tf_live", "tf_other", "tf_live"]


async def test_the_lineage_of_a_key_is_asked_once_per_process(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    asked: list[str] = []

    async def lineage_hash(conn: Any, key_id: str) -> str:
        asked.append(key_id)
        return f"first-of-{key_id}"

    monkeypatch.setattr(auth, "lineage_hash", lineage_hash)
    identity = FakeIdentity()
    principal = auth.Principal("acme", frozenset({"platform"}), "backend", None, "key_lineage")
    for _ in range(3):
        scope = await auth.idempotency_scope(request(identity), principal, "tf_x")
        assert scope == "first-of-key_lineage"
    assert asked == ["key_lineage"]
