"""Cursor pagination over HTTP: the ``Paging`` query parameters and the ``ListOf`` answer.

A list route takes ``page: Paging`` (``?limit=1..100`` (10 by default) and
``?starting_after=<object id>``) and answers ``ListOf[XPublic]``, Stripe's shape::

    {"object": "list", "data": [...], "has_more": true, "url": "/v1/orders"}

Bad input is typed, with the conventions of ``shared/http/errors.py``: a ``limit`` out of
range or a ``starting_after`` too long to be an id is ``422 validation_error`` (FastAPI
checks the bounds declared here, so the OpenAPI document states them); a ``starting_after``
that names no object of the list (another tenant's included) is ``400 invalid_cursor``
(``shared.pagination.InvalidCursor``, answered once, by ``install_error_handlers``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Annotated, Generic, Literal, TypeVar

from fastapi import Depends, Query, Request
from pydantic import BaseModel, Field

from shared.pagination import DEFAULT_LIMIT, MAX_CURSOR_LENGTH, MAX_LIMIT, Page, Window

T = TypeVar("T")
S = TypeVar("S")


async def paging(  # async: FastAPI runs a plain def dependency in its thread pool
    limit: Annotated[
        int, Query(ge=1, le=MAX_LIMIT, description=f"objects per page, 1 to {MAX_LIMIT}")
    ] = DEFAULT_LIMIT,
    starting_after: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=MAX_CURSOR_LENGTH,
            description="the id of the last object of the previous page (its `data[-1].id`)",
        ),
    ] = None,
) -> Page:
    return Page(limit=limit, starting_after=starting_after)


Paging = Annotated[Page, Depends(paging)]


class ListOf(BaseModel, Generic[T]):
    """One page of a list, newest first; ask for the next with ``starting_after`` set to the
    last object's id while ``has_more``."""

    object: Literal["list"] = "list"
    data: list[T]
    has_more: bool = Field(description="whether objects follow this page")
    url: str = Field(description="the list's path", examples=["/v1/orders"])

    @classmethod
    def of(cls, window: Window[S], request: Request, public: Callable[[S], T]) -> ListOf[T]:
        """The answer for ``window`` on ``request``'s path, each item made public."""
        return cls(
            data=[public(item) for item in window.items],
            has_more=window.has_more,
            url=request.url.path,
        )

    @classmethod
    def whole(cls, items: Iterable[T], request: Request) -> ListOf[T]:
        """A list short enough to answer whole (never more to follow)."""
        return cls(data=list(items), has_more=False, url=request.url.path)
