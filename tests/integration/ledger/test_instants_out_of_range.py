"""An instant Python reads but that falls outside the years 1 to 9999 once in UTC
(0001-01-01T00:00+05:00, 9999-12-31T23:00-05:00) is bad input, answered 422 like any other
bad date, never a 500 from the database driver."""

from __future__ import annotations

import pytest

from tests.integration.ledger.conftest import Api

EARLY = "0001-01-01T00:00:00%2B05:00"  # before year 1 in UTC
LATE = "9999-12-31T23:00:00-05:00"  # after year 9999 in UTC
CSV_HEAD = b"balance_transaction_id,currency,amount,fee,type,created,available_on\n"

CASES = [
    ("GET", f"/v1/ledger/reports/balance-sheet?from={LATE}&to=9999-12-31T23:30:00-05:00"
            "&currency=USD", None),
    ("GET", f"/v1/ledger/reports/income-statement?from={EARLY}&to=2020-01-01T00:00:00"
            "&currency=USD", None),
    ("POST", f"/v1/ledger/reconciliation/runs?source=csv&from={EARLY}", CSV_HEAD),
    ("POST", f"/v1/ledger/reconciliation/dry-runs?source=csv&from={EARLY}", CSV_HEAD),
    ("POST", "/v1/ledger/reconciliation/runs?source=csv",
     CSV_HEAD + b"txn_1,USD,1.00,0,charge,0001-01-01T00:00:00+05:00,\n"),
    ("POST", "/v1/ledger/reconciliation/runs?source=csv",
     CSV_HEAD + b"txn_2,USD,-1.00,0,payout,2026-06-01T00:00:00Z,0001-01-01T00:00:00+05:00\n"),
    ("GET", f"/v1/ledger/export?format=csv&from={EARLY}", None),
    ("GET", f"/v1/ledger/trial-balance?as_of={EARLY}", None),
]  # fmt: skip


@pytest.mark.parametrize(("method", "url", "body"), CASES)
async def test_an_instant_outside_the_utc_calendar_is_a_422(
    api: Api, method: str, url: str, body: bytes | None
) -> None:
    r = await api.client.request(method, url, content=body)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] in ("validation_error", "invalid_report"), r.text
