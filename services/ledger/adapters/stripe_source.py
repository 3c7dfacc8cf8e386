"""Stripe balance transactions, from the API (auto-paginated) or from a report CSV.

Both yield ``StripeLine`` tuples in integer minor units. The API gives minor units already;
report CSVs (Balance / itemised balance change reports, or the dashboard's balance
transactions export) give decimal strings in major units, parsed exactly with ``Money.parse``.
"""

from __future__ import annotations

import asyncio
import csv
import math
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime

import stripe

from services.ledger.domain.fx import parse_rate
from services.ledger.domain.recon import ReportFormatError, StripeLine
from services.ledger.service_layer.errors import StripeAccountUnknown, StripeUnreadable
from shared.money import Money
from shared.payments import stripe_client

__all__ = [
    "ReportFormatError",
    "StripeBalanceTransactions",
    "StripeLine",
    "parse_report_csv",
    "pull_balance_transactions",
]


def pull_balance_transactions(
    api_key: str,
    api_base: str,
    *,
    tenant_id: str,
    account: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> Iterator[StripeLine]:
    """The tenant's balance transactions created in [start, end) (100 per page, pages
    fetched as needed): every one of its connected ``account`` (the ``Stripe-Account``
    header), or without one, those of the platform account whose source object's metadata
    names the tenant (``tenant_id``, which escrow and financing write on every object)."""
    client = stripe_client(api_key, api_base)
    # Without a connected account, each source object is expanded to read its metadata.
    params: dict[str, object] = (
        {"limit": 100} if account else {"limit": 100, "expand": ["data.source"]}
    )
    created = created_filter(start, end)
    if created:
        params["created"] = created
    options = {"stripe_account": account} if account else {}
    page = client.v1.balance_transactions.list(params=params, options=options)  # type: ignore[arg-type]
    yield from own_lines(page.auto_paging_iter(), tenant_id, account)


def created_filter(start: datetime | None, end: datetime | None) -> dict[str, int]:
    """The ``created`` filter of a list of balance transactions created in [start, end).
    ``created`` is whole seconds: ``gte`` rounds down and ``lt`` up, so the pull holds the
    whole window and ``in_scope`` cuts it exactly (a line at 10:00:00 is in [.., 10:00:00.5))."""
    found: dict[str, int] = {}
    if start is not None:
        found["gte"] = math.floor(start.timestamp())
    if end is not None:
        found["lt"] = math.ceil(end.timestamp())
    return found


def own_lines(
    listed: Iterable[stripe.BalanceTransaction], tenant_id: str, account: str | None
) -> Iterator[StripeLine]:
    """The tenant's lines of those listed: all of its own account's; of the platform's,
    those whose (expanded) source names the tenant in its metadata."""
    for bt in listed:
        line = _line(bt)
        if account is not None:
            yield line._replace(tenant_id=tenant_id)
        elif line.tenant_id == tenant_id:
            yield line


def _line(bt: stripe.BalanceTransaction) -> StripeLine:
    source = bt.source if isinstance(bt.source, str) else getattr(bt.source, "id", None)
    metadata = getattr(bt.source, "metadata", None) if not isinstance(bt.source, str) else None
    tags = metadata.to_dict() if metadata is not None else {}
    available = getattr(bt, "available_on", None)
    return StripeLine(
        bt.id, source or bt.id, bt.type, bt.currency.upper(), bt.amount, bt.fee,
        datetime.fromtimestamp(bt.created, UTC),
        datetime.fromtimestamp(available, UTC) if available else None, tags.get("tenant_id"),
        tags.get("order_id"), _rate(getattr(bt, "exchange_rate", None)),
    )  # fmt: skip


def _rate(value: object) -> str | None:
    """Stripe's ``exchange_rate`` (JSON number) as the decimal string it was sent as."""
    if value is None or value == "":
        return None
    return str(parse_rate(str(value)))


class StripeBalanceTransactions:
    """``service_layer.stripe.StripeBalance`` on the Stripe API (the client is blocking: it
    runs in a worker thread)."""

    def __init__(self, api_key: str, api_base: str) -> None:
        self._api_key, self._api_base = api_key, api_base

    async def pull(
        self,
        *,
        tenant_id: str,
        account: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> list[StripeLine]:
        def pull() -> list[StripeLine]:
            return list(
                pull_balance_transactions(
                    self._api_key,
                    self._api_base,
                    tenant_id=tenant_id,
                    account=account,
                    start=start,
                    end=end,
                )
            )

        try:
            return await asyncio.to_thread(pull)
        except stripe.StripeError as exc:
            raise StripeUnreadable(f"Stripe could not be read: {type(exc).__name__}") from exc


class StripeConnectedAccounts:
    """``service_layer.stripe.StripeAccounts`` on the Stripe API: ``GET /v1/accounts/{id}``
    with the platform's key answers only for the platform's own or connected accounts."""

    def __init__(self, api_key: str, api_base: str) -> None:
        self._api_key, self._api_base = api_key, api_base

    async def verify(self, account: str) -> None:
        def retrieve() -> str:
            client = stripe_client(self._api_key, self._api_base)
            return str(client.v1.accounts.retrieve(account).id)

        try:
            found = await asyncio.to_thread(retrieve)
        except stripe.InvalidRequestError as exc:
            if exc.http_status == 404 or exc.code == "resource_missing":
                raise StripeAccountUnknown(account) from exc
            raise StripeUnreadable(f"Stripe refused the account: {exc.code}") from exc
        except stripe.PermissionError as exc:  # an account that is not the platform's
            raise StripeAccountUnknown(account) from exc
        except stripe.StripeError as exc:
            raise StripeUnreadable(f"Stripe could not be read: {type(exc).__name__}") from exc
        if found != account:
            raise StripeAccountUnknown(account)


_ALIASES = {
    "balance_txn_id": ("balance_transaction_id", "id"),
    "source_id": ("source_id", "source"),
    "type": ("reporting_category", "type"),
    "currency": ("currency",),
    "amount": ("gross", "amount"),
    "fee": ("fee",),
    "created": ("created_utc", "created", "created (utc)"),
    "available_on": ("available_on_utc", "available_on", "available_on (utc)"),
    "tenant_id": (
        "payment_metadata[tenant_id]",
        "transfer_metadata[tenant_id]",
        "refund_metadata[tenant_id]",
        "metadata[tenant_id]",
        "tenant_id",
    ),
    "exchange_rate": ("exchange_rate",),
    "order_id": (
        "payment_metadata[order_id]",
        "transfer_metadata[order_id]",
        "refund_metadata[order_id]",
        "metadata[order_id]",
    ),
}


def _column(header: list[str], name: str) -> int | None:
    lowered = [h.strip().lower() for h in header]
    for alias in _ALIASES[name]:
        if alias in lowered:
            return lowered.index(alias)
    return None


def _when(value: str) -> datetime:
    if value.isdigit():
        return datetime.fromtimestamp(int(value), UTC)
    parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    # in UTC, where an instant outside years 1-9999 is an OverflowError (a bad report)
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _tenant(row: list[str], tenant_cols: list[int]) -> str | None:
    """The tenant a line's metadata names; "" when the report has tenant columns and the
    line names none (a platform payout, a charge made outside Tradeflow): nobody's to
    reconcile. None: the report says nothing of tenants (a tenant's own account's)."""
    if not tenant_cols:
        return None
    return next((row[i].strip() for i in tenant_cols if i < len(row) and row[i].strip()), "")


def parse_report_csv(lines: Iterable[str]) -> Iterator[StripeLine]:
    """The report's lines; ``ReportFormatError`` for anything that is no such report (the
    csv module's own refusals, a field above its size limit, included)."""
    try:
        yield from _parse_report_csv(lines)
    except csv.Error as exc:
        raise ReportFormatError(f"not a readable CSV: {exc}") from exc


def _parse_report_csv(lines: Iterable[str]) -> Iterator[StripeLine]:
    reader = csv.reader(lines)
    header = next(reader, None)
    if header is None:
        return
    header[0] = header[0].lstrip("\ufeff")
    cols = {name: _column(header, name) for name in _ALIASES}
    lowered = [h.strip().lower() for h in header]
    tenant_cols = [i for i, h in enumerate(lowered) if h in _ALIASES["tenant_id"]]
    order_cols = [i for i, h in enumerate(lowered) if h in _ALIASES["order_id"]]
    missing = [n for n in ("balance_txn_id", "currency", "amount") if cols[n] is None]
    if missing:
        raise ReportFormatError(f"report CSV lacks columns: {', '.join(missing)}")

    def get(row: list[str], name: str, default: str = "") -> str:
        i = cols[name]
        return row[i].strip() if i is not None and i < len(row) and row[i].strip() else default

    for n, row in enumerate(reader, start=2):
        if not row:
            continue
        try:
            currency = get(row, "currency").upper()
            if not get(row, "balance_txn_id"):
                raise ValueError("no balance transaction id")
            yield StripeLine(
                get(row, "balance_txn_id"),
                get(row, "source_id") or get(row, "balance_txn_id"),
                get(row, "type", "unknown"),
                currency,
                Money.parse(get(row, "amount"), currency).amount,
                Money.parse(get(row, "fee", "0"), currency).amount,
                _when(get(row, "created", "1970-01-01T00:00:00+00:00")),
                _when(get(row, "available_on")) if get(row, "available_on") else None,
                _tenant(row, tenant_cols),
                _tenant(row, order_cols) or None,
                _rate(get(row, "exchange_rate")),
            )
        except (ValueError, ArithmeticError) as exc:  # decimal's errors are ArithmeticErrors
            raise ReportFormatError(f"line {n}: {exc!r}") from exc
