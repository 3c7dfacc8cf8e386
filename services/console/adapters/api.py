"""What every client of a service's API shares: the HTTP call with the person's key, and
the one translation of the API's answers into the console's errors.

Each service has its own client module (``ledger.py``, ``escrow.py``, ``financing.py``):
the only places that know a path, a query parameter or the shape of a response, so a
change of an API (its list shape, its paging parameters) is a change of one module.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import httpx

T = TypeVar("T")


class ApiFailure(Exception):
    """A service refused the request: its status, error code and message, as it said them."""

    def __init__(
        self,
        service: str,
        status: int,
        code: str,
        message: str,
        details: Any = None,
    ) -> None:
        super().__init__(f"{service}: {status} {code}: {message}")
        self.service, self.status, self.code, self.message = service, status, code, message
        # What the API said besides the message: an object (``{"reasons": [...]}``) or a
        # list (``[{break_id, code, message}]`` of a bulk refusal), as it said it.
        self.details: Any = details if details is not None else {}


class ServiceUnavailable(Exception):
    """A service did not answer (not reachable, timed out, or answered 5xx)."""

    def __init__(self, service: str, detail: str) -> None:
        super().__init__(f"{service} unavailable: {detail}")
        self.service, self.detail = service, detail


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list, whatever the API's list shape; ``next_cursor`` is what the console
    passes back to get the next page (None: this is the last one)."""

    items: list[T]
    next_cursor: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def stripe_page(found: dict[str, Any], id_field: str = "id") -> Page[dict[str, Any]]:
    """A Stripe-shape list (``{object: "list", data, has_more}``) as a Page: the next
    cursor is the last item's id (the services' ``starting_after``) while ``has_more``."""
    items = list(found["data"])
    more = bool(found.get("has_more")) and bool(items)
    return Page(items=items, next_cursor=str(items[-1][id_field]) if more else None)


class ServiceApi:
    """One service's HTTP API, called with the signed-in person's API key."""

    def __init__(self, service: str, http: httpx.AsyncClient, api_key: str) -> None:
        self.service, self._http, self._key = service, http, api_key

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> Any:
        headers = {"Authorization": f"Bearer {self._key}", "Accept": "application/json"}
        if method != "GET":
            headers["Idempotency-Key"] = idempotency_key or str(uuid.uuid4())
        query = {k: v for k, v in (params or {}).items() if v not in (None, "")}
        try:
            r = await self._http.request(method, path, params=query, json=body, headers=headers)
        except httpx.HTTPError as exc:
            raise ServiceUnavailable(self.service, type(exc).__name__) from exc
        if r.status_code >= 500:
            raise ServiceUnavailable(self.service, f"HTTP {r.status_code}")
        if r.status_code >= 400:
            raise _failure(self.service, r)
        return r.json()

    async def download(self, path: str, params: dict[str, Any]) -> tuple[bytes, str, str]:
        """A file the API serves (CSV, PDF): its bytes, media type and Content-Disposition,
        read with the person's key; refusals as ``request``'s."""
        headers = {"Authorization": f"Bearer {self._key}"}
        query = {k: v for k, v in params.items() if v not in (None, "")}
        try:
            r = await self._http.get(path, params=query, headers=headers)
        except httpx.HTTPError as exc:
            raise ServiceUnavailable(self.service, type(exc).__name__) from exc
        if r.status_code >= 500:
            raise ServiceUnavailable(self.service, f"HTTP {r.status_code}")
        if r.status_code >= 400:
            raise _failure(self.service, r)
        media = r.headers.get("content-type", "application/octet-stream")
        return r.content, media, r.headers.get("content-disposition", "attachment")

    async def all_pages(
        self,
        path: str,
        params: dict[str, Any] | None = None,
        *,
        id_field: str = "id",
        at_most: int = 500,
    ) -> list[dict[str, Any]]:
        """Every item of a Stripe-shape list, page after page (100 each), up to ``at_most``."""
        items: list[dict[str, Any]] = []
        cursor: str | None = None
        while len(items) < at_most:
            found = await self.request(
                "GET", path, params={**(params or {}), "limit": 100, "starting_after": cursor}
            )
            page = stripe_page(found, id_field)
            items += page.items
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        return items[:at_most]


def _failure(service: str, r: httpx.Response) -> ApiFailure:
    try:
        error = r.json()["error"]
        details = error.get("details")
        return ApiFailure(
            service,
            r.status_code,
            str(error["code"]),
            str(error["message"]),
            details if isinstance(details, dict | list) else None,
        )
    except (ValueError, KeyError, TypeError):
        return ApiFailure(service, r.status_code, "http_error", r.reason_phrase)
