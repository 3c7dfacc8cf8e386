"""The authorization matrix, generated from the OpenAPI documents: every operation of every
service against every caller that must not get through.

Callers, and what each must get:

| caller                                               | answer                          |
|------------------------------------------------------|---------------------------------|
| no key                                               | 401 unauthenticated             |
| a malformed key (not a bearer token)                 | 401 unauthenticated             |
| a revoked key (of every scope)                       | 401 unauthenticated             |
| another tenant's key, admitted scope, on our objects | 404 <object>_not_found          |
| our key without the operation's scope                | 403 insufficient_scope          |
| our supplier key bound to another supplier           | 404 where the operation admits  |
|                                                      | suppliers, else 403             |

and NOTHING changes: every table of the three databases is the same before and after.

Operations without an object in their path (lists, creates, the tenant's policies) cannot
answer 404 to another tenant: they answer for that tenant. There the matrix checks that
the answer holds none of our data (our tenant id, our objects' ids) and that nothing of
ours changed (our rows in every table); the same for the other supplier where the
operation admits suppliers. ``POST /v1/webhooks/stripe`` is left out: it is authenticated
by Stripe's signature, not an API key (test_funding_webhooks.py covers forged ones).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from shared.http.auth import SCOPES
from shared.settings import SERVICES, Settings
from tests.support.snapshot import changes, snapshot
from tests.support.stack import SUPPLIER, Stack, Tenant, order_body, service_app

pytestmark = pytest.mark.integration

EXCLUDED = {("escrow", "POST", "/v1/webhooks/stripe"): "authenticated by Stripe's signature"}
# A valid request body per write, so a caller that gets past authentication reaches the
# lookup of our object (an invalid body would answer 422 first).
BODIES: dict[str, Any] = {
    "POST /v1/orders": order_body(),
    "PATCH /v1/orders/{order_id}": {"metadata": {"probe": "matrix"}},
    "POST /v1/orders/{order_id}/cancel": {"reason": "the buyer withdrew"},
    "POST /v1/orders/{order_id}/fund": {},
    "POST /v1/orders/{order_id}/wire-confirmations": {"amount": 100, "reference": "w-matrix"},
    "POST /v1/orders/{order_id}/milestones/{milestone_id}/evidence": {
        "evidence": {
            "kind": "shipment",
            "document": "bill_of_lading",
            "number": "BL-1",
            "carrier": "Maersk",
        }
    },
    "POST /v1/orders/{order_id}/milestones/{milestone_id}/disputes": {"reason": "damaged"},
    "POST /v1/orders/{order_id}/disputes/{dispute_id}/resolve": {"outcome": "release"},
    "POST /v1/orders/{order_id}/disputes/{dispute_id}/evidence": {"text": "matrix probe"},
    "POST /v1/orders/{order_id}/disputes/{dispute_id}/response": {"text": "matrix probe"},
    "POST /v1/orders/{order_id}/disputes/{dispute_id}/offers": {
        "release_amount": 1,
        "refund_amount": 1,
    },
    "POST /v1/orders/{order_id}/disputes/{dispute_id}/offers/{offer_id}/accept": {},
    "POST /v1/orders/{order_id}/disputes/{dispute_id}/escalate": {"reason": "matrix probe"},
    "POST /v1/orders/{order_id}/milestones/{milestone_id}/reject": {
        "remedy": "return",
        "reasons": ["matrix probe"],
    },
    "POST /v1/orders/{order_id}/milestones/{milestone_id}/rejection/answer": {"remedy": "return"},
    "POST /v1/orders/{order_id}/milestones/{milestone_id}/return-shipment": {
        "carrier": "DHL",
        "tracking": "JD-matrix",
    },
    "POST /v1/orders/{order_id}/milestones/{milestone_id}/return-receipt": {},
    "POST /v1/orders/{order_id}/partial-refunds": {
        "milestone_id": "{milestone_id}",
        "amount": 100,
        "reason": "matrix probe",
    },
    "POST /v1/orders/{order_id}/partial-refunds/{proposal_id}/consent": {},
    "POST /v1/orders/{order_id}/partial-refunds/{proposal_id}/decline": {},
    "POST /v1/orders/{order_id}/partial-refunds/{proposal_id}/withdraw": {},
    "POST /v1/orders/{order_id}/milestones/{milestone_id}/release": {},
    "PUT /v1/fee-policy": {"basis_points": 90, "fixed_fees": {}},
    "POST /v1/fx/rates": {
        "rates": [
            {
                "from_currency": "USD",
                "to_currency": "EUR",
                "mid_rate": "0.93",
                "effective_at": "2002-01-01T00:00:00Z",
                "source": "matrix probe",
            }
        ]
    },
    "POST /v1/fx/rates/csv": None,  # a CSV body, read from the request itself
    "PUT /v1/fx/settings": {"markup_bps": 40, "policy": "order", "quote_ttl_seconds": 900},
    "POST /v1/fx/quotes": {
        "from_currency": "USD",
        "to_currency": "EUR",
        "amount": 100,
        "side": "payout",
    },
    "PUT /v1/tenant-settings/dispute-deadlines": {},
    "POST /v1/operations/stuck-refunds/{refund_id}/abandon": {
        "resolution": "returned_offline",
        "note": "matrix probe",
    },
    "POST /v1/operations/refund-breaks/{stripe_refund_id}/resolve": {
        "resolution": "written_off",
        "note": "matrix probe",
    },
    "POST /v1/ledger/adjustments": {
        "reason": "matrix probe",
        "lines": [
            {"account": "bank", "currency": "USD", "debit": 100},
            {"account": "suspense", "currency": "USD", "credit": 100},
        ],
    },
    "POST /v1/ledger/adjustment-requests": {
        "reason": "matrix probe",
        "lines": [
            {"account": "bank", "currency": "USD", "debit": 100},
            {"account": "suspense", "currency": "USD", "credit": 100},
        ],
    },
    "POST /v1/ledger/transactions/{transaction_id}/reverse": {"reason": "posted in error"},
    "POST /v1/ledger/periods/close": {"through": "2002-01-01T00:00:00Z"},
    "POST /v1/ledger/reconciliation/runs": None,  # source=stripe, the default, reads no body
    "POST /v1/ledger/reconciliation/breaks/{break_id}/resolve": {"resolution": "by hand"},
    "POST /v1/ledger/reconciliation/breaks/{break_id}/assign": {"owner": "alice"},
    "POST /v1/ledger/reconciliation/breaks/{break_id}/comments": {"body": "matrix probe"},
    "PUT /v1/ledger/reconciliation/breaks/{break_id}/assignee": {"assignee": "apikey:probe"},
    "POST /v1/ledger/reconciliation/breaks/{break_id}/resolutions": {"reason": "matrix probe"},
    # An id no tenant has: the refusal echoes the ids it was sent.
    "POST /v1/ledger/reconciliation/breaks/bulk-resolve": {
        "break_ids": [2**62],
        "reason": "matrix probe",
    },
    "PUT /v1/ledger/reconciliation/rules/{currency}": {"amount_tolerance": 1},
    "POST /v1/ledger/reconciliation/dry-runs": None,  # source=stripe, the default
    "PUT /v1/ledger/reconciliation/stripe-account": {"account_id": "acct_matrixProbe1"},
    "POST /v1/ledger/fx/rates": {
        "base": "USD",
        "quote": "EUR",
        "rate": "0.93",
        "as_of": "2002-01-01T00:00:00Z",
        "source": "matrix probe",
    },
    "PUT /v1/ledger/fx/reporting-currency": {"currency": "EUR"},
    "POST /v1/ledger/fx/revaluations": {"period_end": "2002-01-01T00:00:00Z"},
    "POST /v1/quotes": {"order_id": "{financing_order_id}"},
    "PATCH /v1/advances/{advance_id}": {"metadata": {"probe": "matrix"}},
    "POST /v1/advances/{advance_id}/accept": {},
    "POST /v1/advances/{advance_id}/repay-early": {},
    "POST /v1/advances/{advance_id}/default": {"reason": "matrix probe"},
    "POST /v1/advances/{advance_id}/write-off": {"reason": "matrix probe"},
    "POST /v1/advances/{advance_id}/recoveries": {"amount": 100},
    "PUT /v1/policies/{currency}": {"advance_rate_bps": 6_000},
    "POST /v1/api-keys": {"name": "matrix-probe", "scopes": ["platform"]},
    "POST /v1/api-keys/{key_id}/rotate": {},
}
QUERIES: dict[str, dict[str, str]] = {
    "GET /v1/ledger/transactions": {"source_event_id": "{source_event_id}"},
    "GET /v1/ledger/reports/income-statement": {
        "from": "2000-01-01T00:00:00Z",
        "to": "2100-01-01T00:00:00Z",
        "currency": "USD",
    },
    "GET /v1/ledger/reports/balance-sheet": {
        "from": "2000-01-01T00:00:00Z",
        "to": "2100-01-01T00:00:00Z",
        "currency": "USD",
    },
}
OBJECTS = {
    "order_id", "milestone_id", "dispute_id", "advance_id", "transaction_id", "account_id",
    "break_id", "key_id", "offer_id", "proposal_id", "quote_id", "adjustment_id", "refund_id",
    "stripe_refund_id",
}  # fmt: skip
WRONG_KEYS = {"malformed": {"Authorization": "Basic dHJhZGVmbG93OnNlY3JldA=="}, "none": {}}


@dataclass(frozen=True)
class Operation:
    service: str
    method: str
    path: str
    scopes: tuple[str, ...]
    has_body: bool

    @property
    def key(self) -> str:
        return f"{self.method} {self.path}"

    @property
    def on_object(self) -> bool:
        return any(f"{{{name}}}" in self.path for name in OBJECTS)


def _operations() -> list[Operation]:
    found = []
    for service in SERVICES:
        spec = service_app(service, Settings(environment="test")).openapi()
        for path, ops in spec["paths"].items():
            for method, op in ops.items():
                if (service, method.upper(), path) in EXCLUDED:
                    continue
                (requirement,) = op["security"]
                found.append(
                    Operation(
                        service, method.upper(), path, tuple(requirement["ApiKey"]),
                        "requestBody" in op,
                    )
                )  # fmt: skip
    return found


OPERATIONS = _operations()
IDS = [f"{o.service} {o.key}" for o in OPERATIONS]


def _fill(value: Any, objects: dict[str, str]) -> Any:
    if isinstance(value, str):
        return value.format(**objects) if "{" in value else value
    if isinstance(value, dict):
        return {k: _fill(v, objects) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, objects) for v in value]
    return value


async def _send(
    stack: Stack, op: Operation, who: dict[str, str], objects: dict[str, str]
) -> httpx.Response:
    kwargs: dict[str, Any] = {"params": _fill(QUERIES.get(op.key, {}), objects)}
    if BODIES.get(op.key) is not None:
        kwargs["json"] = _fill(BODIES[op.key], objects)
    return await stack.call(op.service, op.method, op.path.format(**objects), who, **kwargs)


def _unadmitted_key(op: Operation, tenant: Tenant) -> dict[str, str] | None:
    """One of our single-scope keys the operation does not admit (None if it admits all)."""
    missing = [s for s in SCOPES if s not in op.scopes]
    return tenant.keys[missing[0]] if missing else None


def _their_key(op: Operation, them: Tenant) -> dict[str, str]:
    """The other tenant's key that holds an admitted scope (its bound supplier key for
    supplier-only operations, which then act for a supplier of the same id as ours)."""
    return them.keys["supplier" if op.scopes == ("supplier",) else "all"]


def _code(r: httpx.Response) -> str | None:
    try:
        return str(r.json()["error"]["code"])
    except (ValueError, KeyError, TypeError):
        return None


def test_every_operation_is_in_the_matrix() -> None:
    """A new write needs a valid body here, or the matrix would test it on a 422."""
    writes = {o.key for o in OPERATIONS if o.has_body}
    assert writes - BODIES.keys() == set()
    assert len(OPERATIONS) >= 40


@pytest.mark.parametrize("op", OPERATIONS, ids=IDS)
async def test_callers_that_must_not_get_through_change_nothing(
    op: Operation, stack: Stack, prepared: Tenant, intruder: Tenant
) -> None:
    ours = prepared.objects
    expected: list[tuple[str, dict[str, str], int]] = [
        ("no key", WRONG_KEYS["none"], 401),
        ("malformed key", WRONG_KEYS["malformed"], 401),
        ("revoked key", prepared.keys["revoked"], 401),
    ]
    unadmitted = _unadmitted_key(op, prepared)
    if unadmitted is not None:
        expected.append(("key without the scope", unadmitted, 403))
    if "supplier" not in op.scopes:
        expected.append(("supplier key of another supplier", prepared.keys["other_supplier"], 403))
    elif op.on_object:
        expected.append(("supplier key of another supplier", prepared.keys["other_supplier"], 404))
    if op.on_object:
        expected.append(("another tenant's key", _their_key(op, intruder), 404))

    before = await snapshot(stack.all_engines)
    answers = {}
    for caller, who, status in expected:
        r = await _send(stack, op, who, ours)
        answers[caller] = (r.status_code, _code(r))
        assert r.status_code == status, f"{caller}: {r.status_code} {r.text[:300]}"
        code = _code(r)
        if status == 401:
            assert code == "unauthenticated", caller
        elif status == 403:
            assert code == "insufficient_scope", caller
        else:
            assert code is not None and code.endswith("_not_found"), (caller, code)
    assert changes(before, await snapshot(stack.all_engines)) == {}, answers


def _markers(tenant: Tenant, sent: str) -> set[str]:
    """Strings that only our tenant's data holds (those the request itself named aside)."""
    values = {tenant.id, *(v for v in tenant.objects.values() if len(v) >= 12)}
    return {v for v in values if v not in sent}


async def _our_row_ids(stack: Stack, tenant: Tenant) -> set[int]:
    """Our ledger accounts' and breaks' ids (integers shared by no other tenant)."""
    finance = tenant.keys["finance"]
    accounts = await stack.ok("ledger", "GET", "/v1/ledger/accounts", finance)
    breaks = await stack.ok("ledger", "GET", "/v1/ledger/reconciliation/breaks", finance)
    return {a["id"] for a in accounts} | {b["id"] for b in breaks["data"]}


def _leaks(body: str, markers: set[str], row_ids: set[int]) -> list[str]:
    found = [m for m in markers if m in body]
    try:
        value = json.loads(body)
    except ValueError:
        return found
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for k, v in item.items():
                if k in ("id", "account_id") and isinstance(v, int) and v in row_ids:
                    found.append(f"{k}={v}")
                stack.append(v)
        elif isinstance(item, list):
            stack.extend(item)
    return found


OBJECTLESS = [o for o in OPERATIONS if not o.on_object]


@pytest.mark.parametrize("op", OBJECTLESS, ids=[f"{o.service} {o.key}" for o in OBJECTLESS])
async def test_lists_and_creates_answer_for_the_caller_only(
    op: Operation, stack: Stack, prepared: Tenant, intruder: Tenant
) -> None:
    """Another tenant (and, where suppliers are admitted, another supplier) sees none of
    our data, and what it creates or changes is its own: our rows stay as they were."""
    callers = [("another tenant's key", _their_key(op, intruder), True)]
    if "supplier" in op.scopes:
        callers.append(("supplier key of another supplier", prepared.keys["other_supplier"], False))
    row_ids = await _our_row_ids(stack, prepared)
    for caller, who, other_tenant in callers:
        ours_before = await snapshot(stack.all_engines, tenant=prepared.id)
        r = await _send(stack, op, who, prepared.objects)
        assert r.status_code < 500, f"{caller}: {r.status_code} {r.text[:300]}"
        sent = json.dumps(_fill(BODIES.get(op.key), prepared.objects)) + str(
            _fill(QUERIES.get(op.key, {}), prepared.objects)
        )
        markers = _markers(prepared, sent)
        if not other_tenant:  # same tenant: our tenant id is theirs too
            markers.discard(prepared.id)
        assert _leaks(r.text, markers, row_ids if other_tenant else set()) == [], (
            caller,
            r.text[:3000],
        )
        assert changes(ours_before, await snapshot(stack.all_engines, tenant=prepared.id)) == {}, (
            f"{caller} changed our rows ({r.status_code} {r.text[:200]})"
        )


async def test_the_other_supplier_sees_no_order_or_advance_of_ours(
    stack: Stack, prepared: Tenant
) -> None:
    """The lists a bound supplier key reads are its own supplier's, even unfiltered."""
    theirs = prepared.keys["other_supplier"]
    orders = await stack.ok("escrow", "GET", "/v1/orders", theirs)
    advances = await stack.ok("financing", "GET", "/v1/advances", theirs)
    assert orders["data"] == [] and advances["data"] == []
    ours = await stack.ok("escrow", "GET", "/v1/orders", prepared.keys["supplier"])
    assert {o["supplier_id"] for o in ours["data"]} == {SUPPLIER} and ours["data"]
