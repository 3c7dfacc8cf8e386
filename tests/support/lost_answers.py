"""Lose a keyed request's final answer, as a process killed right after its effect would.

With ``answers_lost`` in force, the Idempotency-Key middleware cannot store the answer
an endpoint gave (the store raises, as the database or the process would be gone), so the
key's row keeps only what the endpoint registered with its commit. ``replayed_as_first``
then checks that a retry returns exactly the first answer, from that row.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from shared.http.claims import Claim


def lose_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    async def gone(*args: Any, **kwargs: Any) -> None:
        raise ConnectionResetError(104, "the process died before storing the answer")

    monkeypatch.setattr(Claim, "store", gone)


def replayed_as_first(first: httpx.Response, retry: httpx.Response) -> None:
    assert retry.headers.get("Idempotent-Replayed") == "true", retry.text
    assert (retry.status_code, retry.json()) == (first.status_code, first.json()), (
        retry.text,
        first.text,
    )
