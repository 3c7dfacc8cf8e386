"""Cursor pagination in Stripe's shape, the one way every Tradeflow list pages.

A list is newest first. A page asks for ``limit`` objects (1..100, 10 by default) after
``starting_after``, the id of the last object of the previous page, and answers with them
and ``has_more``: whether more follow. The cursor is an object id, never an offset, so a page
does not shift when objects are added in front of it.

``starting_after`` must name an object of the *same* list (the caller's tenant, the same
parent, the same filter's base): anything else, another tenant's object included, is
``InvalidCursor`` (a 400 ``invalid_cursor``), the same answer for an id that exists
elsewhere as for one that never existed, so a cursor leaks nothing.

Pure: no HTTP, no SQL. ``shared/http/pagination.py`` reads a ``Page`` from the query string
and writes a ``ListOf`` answer; repositories fetch ``limit + 1`` rows and cut them with
``Window.cut`` (or page an in-memory list with ``paginate``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")

DEFAULT_LIMIT = 10
MAX_LIMIT = 100
MAX_CURSOR_LENGTH = 64  # every object id of ours is shorter


class InvalidPage(ValueError):
    """A ``limit`` out of 1..100, or a ``starting_after`` that cannot be an id."""


class InvalidCursor(ValueError):
    """A ``starting_after`` that names no object of this list (nor the caller's)."""

    def __init__(self, starting_after: str) -> None:
        super().__init__(f"starting_after {starting_after!r} is not an object of this list")
        self.starting_after = starting_after


@dataclass(frozen=True)
class Page:
    """What a caller asks for: ``limit`` objects after ``starting_after`` (an object id)."""

    limit: int = DEFAULT_LIMIT
    starting_after: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.limit, bool) or not 1 <= self.limit <= MAX_LIMIT:
            raise InvalidPage(f"limit must be between 1 and {MAX_LIMIT}, not {self.limit!r}")
        cursor = self.starting_after
        if cursor is not None and not 1 <= len(cursor) <= MAX_CURSOR_LENGTH:
            raise InvalidPage(f"starting_after must be an object id of 1 to {MAX_CURSOR_LENGTH}")

    @property
    def fetch(self) -> int:
        """How many rows to read: one more than the page, to learn ``has_more``."""
        return self.limit + 1


@dataclass(frozen=True)
class Window(Generic[T]):
    """One page of a list: its objects, newest first, and whether more follow."""

    items: list[T]
    has_more: bool

    @classmethod
    def cut(cls, rows: Sequence[T], page: Page) -> Window[T]:
        """The page out of up to ``page.fetch`` rows read after the cursor."""
        return cls(list(rows[: page.limit]), len(rows) > page.limit)


def paginate(items: Sequence[T], page: Page, id_of: Callable[[T], str]) -> Window[T]:
    """Page a list already in its order (newest first) in memory: the fakes' and any list
    small enough to read whole. ``InvalidCursor`` if ``starting_after`` is not in it."""
    start = 0
    if page.starting_after is not None:
        ids = [id_of(item) for item in items]
        if page.starting_after not in ids:
            raise InvalidCursor(page.starting_after)
        start = ids.index(page.starting_after) + 1
    return Window.cut(items[start : start + page.fetch], page)
