"""Cursor pagination (shared/pagination.py, shared/http/pagination.py): Stripe's shape."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI, Request
from hypothesis import given
from hypothesis import strategies as st

from shared.http.errors import install_error_handlers
from shared.http.pagination import ListOf, Paging
from shared.pagination import InvalidCursor, InvalidPage, Page, Window, paginate

IDS = [f"obj_{i:03}" for i in range(25, 0, -1)]  # newest first


def test_a_page_is_ten_by_default_and_refuses_limits_out_of_range() -> None:
    assert Page().limit == 10 and Page().starting_after is None
    for bad in (0, -1, 101, True):
        with pytest.raises(InvalidPage):
            Page(limit=bad)
    with pytest.raises(InvalidPage):
        Page(starting_after="x" * 65)
    assert Page(limit=100).fetch == 101


def test_window_cut_says_whether_more_follow() -> None:
    assert Window.cut([1, 2, 3], Page(limit=2)) == Window([1, 2], True)
    assert Window.cut([1, 2], Page(limit=2)) == Window([1, 2], False)


@given(st.integers(1, 100), st.integers(0, 60))
def test_following_starting_after_visits_every_object_once_in_order(limit: int, n: int) -> None:
    items = IDS[:n] if n <= len(IDS) else [f"o{i:03}" for i in range(n, 0, -1)]
    seen: list[str] = []
    page = Page(limit=limit)
    while True:
        window = paginate(items, page, str)
        seen += window.items
        assert len(window.items) <= limit
        if not window.has_more:
            break
        page = Page(limit=limit, starting_after=window.items[-1])
    assert seen == list(items)


def test_a_cursor_not_in_the_list_is_refused() -> None:
    with pytest.raises(InvalidCursor):
        paginate(IDS, Page(starting_after="obj_999"), str)


def _app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/v1/things")
    async def things(request: Request, page: Paging) -> ListOf[str]:
        return ListOf[str].of(paginate(IDS, page, str), request, str)

    return app


async def test_the_http_answer_is_stripes_list_and_bad_paging_is_typed() -> None:
    transport = httpx.ASGITransport(app=_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        first = (await client.get("/v1/things")).json()
        assert first == {"object": "list", "data": IDS[:10], "has_more": True, "url": "/v1/things"}
        last = (await client.get("/v1/things", params={"starting_after": IDS[19]})).json()
        assert last["data"] == IDS[20:] and last["has_more"] is False
        for limit in (0, 101, "ten"):
            r = await client.get("/v1/things", params={"limit": limit})
            assert r.status_code == 422 and r.json()["error"]["code"] == "validation_error"
        r = await client.get("/v1/things", params={"starting_after": "obj_nope"})
        assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_cursor"
