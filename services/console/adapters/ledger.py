"""The ledger's API as the console reads it (docs/ledger.md, "HTTP API")."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from services.console.adapters.api import ApiFailure, Page, ServiceApi


class LedgerClient:
    def __init__(self, api: ServiceApi) -> None:
        self.api = api

    async def trial_balance(self, as_of: datetime | None) -> dict[str, Any]:
        """``{as_of, currencies: [{currency, lines: [{account, number, name, type, accounts,
        debit, credit}], total_debit, total_credit, difference}]}``"""
        params = {"as_of": as_of.isoformat() if as_of else None}
        found: dict[str, Any] = await self.api.request(
            "GET", "/v1/ledger/trial-balance", params=params
        )
        return found

    async def accounts(self, code: str | None, currency: str | None) -> list[dict[str, Any]]:
        found = await self.api.request(
            "GET", "/v1/ledger/accounts", params={"code": code, "currency": currency}
        )
        return list(_items(found))

    async def statement(
        self,
        account_id: int,
        *,
        end: datetime | None = None,
        cursor: str | None = None,
        limit: int = 50,
    ) -> Page[dict[str, Any]]:
        """One page of the account's statement; ``extra`` holds ``account``,
        ``opening_balance`` and ``closing_balance`` of this page."""
        found = await self.api.request(
            "GET",
            f"/v1/ledger/accounts/{account_id}/statement",
            params={"to": end.isoformat() if end else None, "cursor": cursor, "limit": limit},
        )
        extra = {k: found[k] for k in ("account", "opening_balance", "closing_balance", "end")}
        return Page(items=list(found["lines"]), next_cursor=found.get("next_cursor"), extra=extra)

    async def transaction_of_source(self, source_event_id: str) -> dict[str, Any] | None:
        """The journal transaction that posted an event (``{id, posted_at, memo, kind,
        postings: [{account, subledger, currency, debit, credit}]}``), or None: the ledger
        posted nothing for it (not every event moves money), or has not yet."""
        try:
            found: dict[str, Any] = await self.api.request(
                "GET", "/v1/ledger/transactions", params={"source_event_id": source_event_id}
            )
        except ApiFailure as exc:
            if exc.status == 404:
                return None
            raise
        return found

    async def breaks(
        self,
        status: str | None,
        kind: str | None,
        limit: int = 500,
        *,
        owner: str | None = None,
        min_age_days: int | None = None,
        max_age_days: int | None = None,
    ) -> Page[dict[str, Any]]:
        """Reconciliation breaks, oldest first, filtered by the ledger (status, kind, owner,
        age in whole days, both ends included), its pages followed up to ``limit``:
        ``{id, kind, object_id, currency, ledger_amount, other_amount, owner, status,
        first_seen_at, last_seen_at, age_days, resolution, ...}``."""
        query = {"status": status, "kind": kind, "owner": owner,
                 "min_age_days": min_age_days, "max_age_days": max_age_days}  # fmt: skip
        found = await self.api.all_pages("/v1/ledger/reconciliation/breaks", query, at_most=limit)
        return Page(items=found)

    async def assign_break(self, break_id: int, owner: str, idempotency_key: str) -> Any:
        return await self.api.request(
            "POST", f"/v1/ledger/reconciliation/breaks/{break_id}/assign",
            body={"owner": owner}, idempotency_key=idempotency_key,
        )  # fmt: skip

    async def resolve_break(self, break_id: int, resolution: str, idempotency_key: str) -> Any:
        return await self.api.request(
            "POST", f"/v1/ledger/reconciliation/breaks/{break_id}/resolve",
            body={"resolution": resolution}, idempotency_key=idempotency_key,
        )  # fmt: skip

    async def break_workflow(self, break_id: int) -> dict[str, Any]:
        """``{break, assignment: {assignee, assigned_by, assigned_at} | None, comments:
        [{id, author, body, created_at}], resolution: {status: pending_approval | applied,
        reason, maker, requested_at, adjustment: {memo, lines} | None, checker, approved_at,
        transaction_id} | None}``"""
        found: dict[str, Any] = await self.api.request(
            "GET", f"/v1/ledger/reconciliation/breaks/{break_id}/workflow"
        )
        return found

    async def comment_on_break(self, break_id: int, body: str, idempotency_key: str) -> Any:
        return await self.api.request(
            "POST", f"/v1/ledger/reconciliation/breaks/{break_id}/comments",
            body={"body": body}, idempotency_key=idempotency_key,
        )  # fmt: skip

    async def assign_break_to(self, break_id: int, assignee: str, idempotency_key: str) -> Any:
        """To a finance user (``apikey:<key name>``); 422 ``not_a_finance_user`` otherwise."""
        return await self.api.request(
            "PUT", f"/v1/ledger/reconciliation/breaks/{break_id}/assignee",
            body={"assignee": assignee}, idempotency_key=idempotency_key,
        )  # fmt: skip

    async def propose_resolution(
        self,
        break_id: int,
        reason: str,
        adjustment: dict[str, Any] | None,
        idempotency_key: str,
    ) -> dict[str, Any]:
        """``{resolution, break, transaction}``: applied, or ``pending_approval`` when the
        adjustment needs a second finance user."""
        found: dict[str, Any] = await self.api.request(
            "POST", f"/v1/ledger/reconciliation/breaks/{break_id}/resolutions",
            body={"reason": reason, "adjustment": adjustment}, idempotency_key=idempotency_key,
        )  # fmt: skip
        return found

    async def approve_resolution(self, break_id: int, idempotency_key: str) -> dict[str, Any]:
        """A checker posts the pending adjustment; its maker: 403 ``same_user_approval``."""
        found: dict[str, Any] = await self.api.request(
            "POST", f"/v1/ledger/reconciliation/breaks/{break_id}/resolutions/approve",
            idempotency_key=idempotency_key,
        )  # fmt: skip
        return found

    async def bulk_resolve(self, break_ids: list[int], reason: str, idempotency_key: str) -> Any:
        """All or none: 409 ``bulk_resolve_refused`` with ``details: [{break_id, code,
        message}]``."""
        return await self.api.request(
            "POST", "/v1/ledger/reconciliation/breaks/bulk-resolve",
            body={"break_ids": break_ids, "reason": reason}, idempotency_key=idempotency_key,
        )  # fmt: skip

    async def report(
        self, kind: str, start: datetime, end: datetime, currency: str
    ) -> dict[str, Any]:
        """``kind``: ``income-statement`` or ``balance-sheet``, as JSON (docs/ledger.md,
        "Period reports"): the period ``[start, end)`` beside the previous one."""
        found: dict[str, Any] = await self.api.request(
            "GET", f"/v1/ledger/reports/{kind}", params=_period(start, end, currency)
        )
        return found

    async def report_file(
        self, kind: str, start: datetime, end: datetime, currency: str, fmt: str
    ) -> tuple[bytes, str, str]:
        """The report as the ledger renders it (``csv`` or ``pdf``): bytes, media type and
        Content-Disposition."""
        params = {**_period(start, end, currency), "format": fmt}
        return await self.api.download(f"/v1/ledger/reports/{kind}", params)

    async def reconcile_with_stripe(self, idempotency_key: str) -> dict[str, Any]:
        """A reconciliation run against Stripe's balance transactions: ``{run_id,
        stripe_rows, matched, missing_in_ledger, missing_in_stripe, amount_mismatch}``."""
        found: dict[str, Any] = await self.api.request(
            "POST", "/v1/ledger/reconciliation/runs", params={"source": "stripe"},
            idempotency_key=idempotency_key,
        )  # fmt: skip
        return found

    async def matching_rules(self) -> list[dict[str, Any]]:
        """``[{currency, amount_tolerance, date_window_days, approval_threshold}]``."""
        return _items(await self.api.request("GET", "/v1/ledger/reconciliation/rules"))

    async def set_matching_rules(
        self, currency: str, body: dict[str, Any], idempotency_key: str
    ) -> dict[str, Any]:
        found: dict[str, Any] = await self.api.request(
            "PUT", f"/v1/ledger/reconciliation/rules/{currency}", body=body,
            idempotency_key=idempotency_key,
        )  # fmt: skip
        return found

    async def dry_run_with_stripe(
        self, start: datetime | None, end: datetime | None, idempotency_key: str
    ) -> dict[str, Any]:
        """What a run against Stripe over ``[start, end)`` would do; writes nothing:
        ``{stripe_rows, counts, opened, reopened, changed, cleared}``."""
        params = {"source": "stripe", "from": start.isoformat() if start else None,
                  "to": end.isoformat() if end else None}  # fmt: skip
        found: dict[str, Any] = await self.api.request(
            "POST", "/v1/ledger/reconciliation/dry-runs", params=params,
            idempotency_key=idempotency_key,
        )  # fmt: skip
        return found

    async def period_closes(self) -> list[dict[str, Any]]:
        """``[{closed_through, closed_by, reason, closed_at}]``, as the ledger lists them."""
        return _items(await self.api.request("GET", "/v1/ledger/periods"))

    async def close_period(
        self, through: datetime, reason: str | None, idempotency_key: str
    ) -> dict[str, Any]:
        found: dict[str, Any] = await self.api.request(
            "POST", "/v1/ledger/periods/close",
            body={"through": through.isoformat(), "reason": reason or None},
            idempotency_key=idempotency_key,
        )  # fmt: skip
        return found


def _period(start: datetime, end: datetime, currency: str) -> dict[str, Any]:
    return {"from": start.isoformat(), "to": end.isoformat(), "currency": currency}


def _items(found: Any) -> list[dict[str, Any]]:
    """A list answer, bare (``[...]``) or wrapped (``{"data": [...]}``)."""
    return list(found["data"] if isinstance(found, dict) else found)
