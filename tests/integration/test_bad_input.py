"""Bad input, as a new user would send it, on each service: a typed 4xx, nothing stored.

Every case snapshots the service's database before and after the request: a refusal that
left a row behind (or half a transaction) fails, not only one that answered 500.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pytest

from shared.money import MAX_AMOUNT
from shared.settings import Settings
from tests.support.snapshot import changes, snapshot
from tests.support.stack import Stack, Tenant, order_body

pytestmark = pytest.mark.integration

MIB = 1024 * 1024
NUL = "\x00"
RLO_EMOJI = "Shenzhen \u202edlrow\u202c \U0001f6a2 \u4e2d\u6587"  # right-to-left override, emoji


@dataclass(frozen=True)
class Bad:
    name: str
    service: str
    method: str
    path: str  # formatted with the prepared tenant's objects: {order_id}, {advance_id}, ...
    status: int
    code: str
    who: str = "all"
    json: Any = None
    content: bytes | None = None
    params: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)


def order(**changes: Any) -> dict[str, Any]:
    return {**order_body(), **changes}


def order_of(*amounts: int, **changes: Any) -> dict[str, Any]:
    """An order whose milestones sum to its total, of any size."""
    body = order(total=sum(amounts), **changes)
    body["milestones"] = [
        {"name": f"part {i}", "amount": a, "kind": "contract"} for i, a in enumerate(amounts)
    ]
    return body


def adjustment(**line: Any) -> dict[str, Any]:
    return {
        "reason": "bad input probe",
        "lines": [
            {"account": "bank", "currency": "USD", "debit": 100, **line},
            {"account": "suspense", "currency": "USD", "credit": 100},
        ],
    }


def nested(depth: int) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth


def big_json(size: int) -> bytes:
    """A JSON order of about ``size`` bytes (a huge buyer id)."""
    return json.dumps(order(buyer_id="b" * size)).encode()


REPORT = "balance_transaction_id,created_utc,source_id,reporting_category,currency,gross,fee\n"
JSON = {"Content-Type": "application/json"}
CSV = {"Content-Type": "text/csv"}
IDEM = {"Idempotency-Key": "deeply-nested-probe"}

# fmt: off
CASES = [
    # --- amounts: floats, strings, beyond the bound, negative, on every money field ---
    *(
        Bad(f"order total {v!r}", "escrow", "POST", "/v1/orders", 422, "validation_error",
            json=order(total=v))
        for v in (100_000.0, "100000", -1, 0)
    ),
    *(
        Bad(f"milestones summing to {total}", "escrow", "POST", "/v1/orders", 422,
            "validation_error", json=order_of(*parts))
        for total, parts in (
            ("MAX_AMOUNT + 1", (MAX_AMOUNT, 1)),
            ("2**63", (2**62, 2**62)),
            ("2**64", (2**63, 2**63)),
        )
    ),
    Bad("milestone amount float", "escrow", "POST", "/v1/orders", 422, "validation_error",
        json=order_of(50_000, 50_000) | {"milestones": [
            {"name": "a", "amount": 50_000.0, "kind": "contract"},
            {"name": "b", "amount": 50_000, "kind": "contract"}]}),
    *(
        Bad(f"fee policy fixed fee {v!r}", "escrow", "PUT", "/v1/fee-policy", 422,
            "validation_error", json={"basis_points": 100, "fixed_fees": {"USD": v}})
        for v in (2**63, 2**64, MAX_AMOUNT + 1, -1, 1.5, "30")
    ),
    Bad("wire of 2**63", "escrow", "POST", "/v1/orders/{order_id}/wire-confirmations", 422,
        "validation_error", json={"amount": 2**63, "reference": "w-big"}),
    Bad("fund 2**64", "escrow", "POST", "/v1/orders/{order_id}/fund", 422, "validation_error",
        json={"amount": 2**64}),
    Bad("split release 2**63", "escrow", "POST",
        "/v1/orders/{order_id}/disputes/{dispute_id}/resolve", 422, "validation_error",
        json={"outcome": "split", "release_amount": 2**63}),
    Bad("list limit 2**64", "escrow", "GET", "/v1/orders", 422, "validation_error",
        params={"limit": 2**64}),
    *(
        Bad(f"adjustment debit {v!r}", "ledger", "POST", "/v1/ledger/adjustments", 422,
            "validation_error", json=adjustment(debit=v))
        for v in (2**63, 2**64, MAX_AMOUNT + 1, -1, 1.5, "100")
    ),
    Bad("report gross 10**17 USD", "ledger", "POST", "/v1/ledger/reconciliation/runs", 422,
        "invalid_report", params={"source": "csv"}, headers=CSV,
        content=(REPORT + "txn_big,2026-06-01 10:00:00,ch_big,charge,usd,"
                 "100000000000000000.00,0.30\n").encode()),
    Bad("account id 2**63", "ledger", "GET", "/v1/ledger/accounts/9223372036854775808/balance",
        422, "validation_error"),
    Bad("statement limit 2**64", "ledger", "GET", "/v1/ledger/accounts/{account_id}/statement",
        422, "validation_error", params={"limit": 2**64}),
    *(
        Bad(f"policy {name} {v!r}", "financing", "PUT", "/v1/policies/USD", 422,
            "validation_error", json={name: v})
        for name, v in (
            ("supplier_limit", 2**63), ("buyer_limit", 2**64), ("pair_limit", MAX_AMOUNT + 1),
            ("min_advance", 2**63), ("concentration_min_book", 2**64), ("supplier_limit", -1),
            ("supplier_limit", 1e6), ("supplier_limit", "1000"), ("offer_ttl_seconds", 2**63),
            ("advance_rate_bps", 2**64), ("daily_fee_rate", 0.0005),
        )
    ),
    Bad("policy days 2**64", "financing", "PUT", "/v1/policies/USD", 422, "validation_error",
        json={"days_by_kind": {"shipment": 2**64}}),
    Bad("policy days of no milestone kind", "financing", "PUT", "/v1/policies/USD", 422,
        "validation_error", json={"days_by_kind": {"teleport": 1}}),
    Bad("quote of 2**63", "financing", "POST", "/v1/quotes", 422, "validation_error",
        who="supplier", json={"order_id": "{financing_order_id}", "amount": 2**63}),
    Bad("recovery of 2**64", "financing", "POST", "/v1/advances/{advance_id}/recoveries", 422,
        "validation_error", json={"amount": 2**64}),
    # --- currencies: unknown and lower case ---
    *(
        Bad(f"order currency {c!r}", "escrow", "POST", "/v1/orders", 422, "validation_error",
            json=order(currency=c))
        for c in ("XYZ", "usd", "")
    ),
    Bad("fee in lower-case currency", "escrow", "PUT", "/v1/fee-policy", 422, "validation_error",
        json={"basis_points": 100, "fixed_fees": {"usd": 30}}),
    *(
        Bad(f"adjustment currency {c}", "ledger", "POST", "/v1/ledger/adjustments", 422,
            "validation_error", json=adjustment(currency=c))
        for c in ("usd", "XYZ")
    ),
    *(
        Bad(f"policy currency {c}", "financing", "PUT", f"/v1/policies/{c}", 422,
            "invalid_policy", json={})
        for c in ("XYZ", "usd")
    ),
    # --- malformed ids ---
    Bad("stripe account not acct_", "escrow", "POST", "/v1/orders", 422, "validation_error",
        json=order(supplier_account_id="cus_1")),
    Bad("empty buyer id", "escrow", "POST", "/v1/orders", 422, "validation_error",
        json=order(buyer_id="")),
    Bad("unknown order", "escrow", "GET", "/v1/orders/ord_missing", 404, "order_not_found"),
    Bad("unknown milestone", "escrow", "POST", "/v1/orders/{order_id}/milestones/m-x/accept",
        404, "milestone_not_found"),
    Bad("forged cursor", "escrow", "GET", "/v1/orders", 400, "invalid_cursor",
        params={"starting_after": "not-an-order"}),
    Bad("transaction id not a uuid", "ledger", "GET", "/v1/ledger/transactions/tx-1", 422,
        "validation_error"),
    Bad("account id not a number", "ledger", "GET", "/v1/ledger/accounts/abc/balance", 422,
        "validation_error"),
    Bad("unknown advance", "financing", "GET", "/v1/advances/adv_missing", 404,
        "advance_not_found"),
    # --- sizes: over the body limit, 10 MB, a 1 MB body under it ---
    *(
        Bad(f"{name} body", service, "POST", path, 413, "payload_too_large", headers=JSON,
            content=big_json(size))
        for service, path in (
            ("escrow", "/v1/orders"),
            ("ledger", "/v1/ledger/adjustments"),
            ("financing", "/v1/quotes"),
        )
        for name, size in (("1 MiB + 1", MIB + 1), ("10 MB", 10_000_000))
    ),
    Bad("10 MB report", "ledger", "POST", "/v1/ledger/reconciliation/runs", 413,
        "payload_too_large", params={"source": "csv"}, headers=CSV,
        content=REPORT.encode() + b"x" * 10_000_000),
    Bad("1 MB body under the limit", "escrow", "POST", "/v1/orders", 422, "validation_error",
        headers=JSON, content=big_json(1_000_000)),
    # --- JSON: nested 10,000 deep (with and without Idempotency-Key), unparseable ---
    *(
        Bad(f"depth 10000{' keyed' if keyed else ''}", service, "POST", path, 400,
            "invalid_json", headers=JSON | (IDEM if keyed else {}), content=nested(10_000))
        for service, path in (
            ("escrow", "/v1/orders"),
            ("ledger", "/v1/ledger/adjustments"),
            ("financing", "/v1/quotes"),
        )
        for keyed in (False, True)
    ),
    Bad("depth 10000 without content type", "escrow", "PUT", "/v1/fee-policy", 400,
        "invalid_json", headers=IDEM, content=b"[" * 10_000 + b"]" * 10_000),
    Bad("depth 10000 in a list", "financing", "PUT", "/v1/policies/USD", 400, "invalid_json",
        headers=JSON, content=b'{"days_by_kind":' + nested(10_000) + b"}"),
    *(
        Bad(f"depth 10000 in {encoding}, behind an escaped quote", "escrow", "POST",
            "/v1/orders", 400, "invalid_json", headers=JSON,
            content=(b'["\\"", ' + nested(10_000) + b"]").decode().encode(encoding))
        for encoding in ("utf-16", "utf-16-le", "utf-32")
    ),
    Bad("unparseable JSON", "escrow", "POST", "/v1/orders", 400, "invalid_json",
        headers=JSON, content=b'{"buyer_id": '),
    Bad("unparseable JSON, keyed", "financing", "POST", "/v1/quotes", 400, "invalid_json",
        headers=JSON | IDEM, content=b"{'order_id': 1}"),
    Bad("JSON that is not UTF-8", "ledger", "POST", "/v1/ledger/adjustments", 400,
        "invalid_json", headers=JSON, content=b'{"reason": "\xff\xfe"}'),
    # --- NUL and other control characters, in body, path, query and headers ---
    Bad("NUL in buyer id", "escrow", "POST", "/v1/orders", 400, "invalid_characters",
        json=order(buyer_id=f"buyer{NUL}1")),
    Bad("a surrogate in buyer id as raw bytes, no escape", "escrow", "POST", "/v1/orders", 400,
        "invalid_characters", headers=JSON,
        content=json.dumps(order(buyer_id="b-S")).encode().replace(b"b-S", b"b-\xed\xa0\x80")),
    Bad("NUL in a nested name", "escrow", "POST", "/v1/orders", 400, "invalid_characters",
        json=order_of(100) | {"milestones": [
            {"name": f"deposit{NUL}", "amount": 100, "kind": "contract"}]}),
    Bad("NUL in a key", "escrow", "PUT", "/v1/fee-policy", 400, "invalid_characters",
        json={"basis_points": 1, "fixed_fees": {f"USD{NUL}": 1}}),
    Bad("bell in a reason", "escrow", "POST", "/v1/orders/{order_id}/cancel", 400,
        "invalid_characters", json={"reason": "ring\x07"}),
    Bad("lone surrogate", "escrow", "POST", "/v1/orders/{order_id}/cancel", 400,
        "invalid_characters", headers=JSON, content=b'{"reason": "half \\ud800 a pair"}'),
    Bad("NUL in path", "escrow", "GET", "/v1/orders/ord%00x", 400, "invalid_characters"),
    Bad("NUL in query", "escrow", "GET", "/v1/orders", 400, "invalid_characters",
        params={"buyer_id": f"b{NUL}"}),
    Bad("escape in query", "escrow", "GET", "/v1/orders", 400, "invalid_characters",
        params={"status": "\x1b[31m"}),
    Bad("newline in query", "escrow", "GET", "/v1/orders/{order_id}/timeline", 400,
        "invalid_characters", params={"x": "a\nb"}),
    Bad("NUL in idempotency key", "escrow", "POST", "/v1/orders", 400, "invalid_characters",
        json=order(), headers={"Idempotency-Key": f"k{NUL}1"}),
    Bad("NUL in reason", "ledger", "POST", "/v1/ledger/adjustments", 400, "invalid_characters",
        json=adjustment() | {"reason": f"why{NUL}"}),
    Bad("NUL in report", "ledger", "POST", "/v1/ledger/reconciliation/runs", 400,
        "invalid_characters", params={"source": "csv"}, headers=CSV,
        content=(REPORT + f"txn_1,2026-06-01 10:00:00,ch{NUL},charge,usd,1.00,0\n").encode()),
    Bad("NUL in transaction path", "ledger", "GET", "/v1/ledger/transactions/%00", 400,
        "invalid_characters"),
    Bad("NUL in account query", "ledger", "GET", "/v1/ledger/accounts", 400,
        "invalid_characters", params={"code": NUL}),
    Bad("NUL in policy path", "financing", "GET", "/v1/policies/US%00", 400,
        "invalid_characters"),
    Bad("NUL in supplier query", "financing", "GET", "/v1/advances", 400, "invalid_characters",
        params={"supplier_id": f"s{NUL}"}),
    Bad("NUL in advance path", "financing", "POST", "/v1/advances/a%00/accept", 400,
        "invalid_characters", who="supplier", json={}),
    Bad("NUL in order id", "financing", "POST", "/v1/quotes", 400, "invalid_characters",
        who="supplier", json={"order_id": f"ord{NUL}"}),
]
# fmt: on


def _fill(value: Any, objects: dict[str, str]) -> Any:
    if isinstance(value, str) and "{" in value:
        return value.format(**objects)
    if isinstance(value, dict):
        return {k: _fill(v, objects) for k, v in value.items()}
    return value


@pytest.mark.parametrize("case", CASES, ids=[f"{c.service}: {c.name}" for c in CASES])
async def test_bad_input_is_refused_with_a_typed_4xx_and_nothing_stored(
    case: Bad, stack: Stack, prepared: Tenant
) -> None:
    engines = {case.service: stack.engines[case.service]}
    before = await snapshot(engines)
    kwargs: dict[str, Any] = {"params": case.params, "headers": case.headers}
    if case.content is not None:
        kwargs["content"] = case.content
    elif case.json is not None:
        kwargs["json"] = _fill(case.json, prepared.objects)
    path = case.path.format(**prepared.objects)
    r = await stack.call(case.service, case.method, path, prepared.keys[case.who], **kwargs)
    code = r.json().get("error", {}).get("code") if r.content else None
    assert (r.status_code, code) == (case.status, case.code), r.text[:300]
    assert set(r.json()["error"]) <= {"code", "message", "details"}
    assert changes(before, await snapshot(engines)) == {}


async def test_bodies_within_the_limits_still_pass(stack: Stack, prepared: Tenant) -> None:
    """The guard refuses what is beyond its limits, not what is close to them."""
    keys = prepared.keys
    deep_ok = (
        b'{"reason": "nested but fine", "memo": "", "lines": '
        + json.dumps(adjustment()["lines"]).encode()
        + b"}"
    )
    # Above the tenant's approval threshold (none set: 0), an adjustment is asked for and a
    # second finance user (the ``all`` key's) approves it.
    r = await stack.call(
        "ledger", "POST", "/v1/ledger/adjustment-requests", keys["finance"], content=deep_ok,
        headers=JSON,
    )  # fmt: skip
    assert r.status_code == 201, r.text
    await stack.ok(
        "ledger", "POST", f"/v1/ledger/adjustment-requests/{r.json()['id']}/approve",
        keys["all"],
    )  # fmt: skip
    text = "tab\there, new\nline, carriage\rreturn"
    tx = await stack.adjustment(prepared, adjustment() | {"memo": text})
    assert tx["memo"] == text


async def test_right_to_left_and_emoji_are_text_kept_intact(
    stack: Stack, prepared: Tenant, migrated: Settings
) -> None:
    keys = prepared.keys
    body = order(buyer_id=f"buyer {RLO_EMOJI}")
    body["milestones"][0]["name"] = f"deposit {RLO_EMOJI}"
    created = await stack.ok("escrow", "POST", "/v1/orders", keys["platform"], json=body)
    got = await stack.ok("escrow", "GET", f"/v1/orders/{created['order_id']}", keys["platform"])
    assert got["buyer_id"] == f"buyer {RLO_EMOJI}"
    assert got["milestones"][0]["name"] == f"deposit {RLO_EMOJI}"
    listed = await stack.ok(
        "escrow", "GET", "/v1/orders", keys["platform"], params={"buyer_id": f"buyer {RLO_EMOJI}"}
    )
    assert [o["order_id"] for o in listed["data"]] == [created["order_id"]]

    tx = await stack.adjustment(
        prepared, adjustment(external_ref=f"ref {RLO_EMOJI}") | {"memo": RLO_EMOJI}
    )
    again = await stack.ok("ledger", "GET", f"/v1/ledger/transactions/{tx['id']}", keys["finance"])
    assert again["memo"] == RLO_EMOJI
    assert again["postings"][0]["external_ref"] == f"ref {RLO_EMOJI}"

    none = await stack.ok(
        "financing", "GET", "/v1/advances", keys["finance"], params={"supplier_id": RLO_EMOJI}
    )
    assert none["data"] == [] and none["has_more"] is False


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (json.dumps(order(buyer_id=f"buyer{NUL}")).encode(), "invalid_characters"),
        (nested(10_000), "invalid_json"),
    ],
    ids=["NUL escaped in a string", "nested 10,000 deep"],
)
async def test_a_second_content_type_does_not_hide_a_json_body_from_the_guard(
    body: bytes, code: str, stack: Stack, prepared: Tenant
) -> None:
    """FastAPI reads a body as JSON by the request's first Content-Type: the guard must
    judge the body by that same one, not by a later header that calls it text."""
    engines = {"escrow": stack.engines["escrow"]}
    before = await snapshot(engines)
    headers = [
        *prepared.keys["platform"].items(),
        ("content-type", "application/json"),
        ("content-type", "text/plain"),
    ]
    r = await stack.clients["escrow"].post("/v1/orders", content=body, headers=headers)
    assert (r.status_code, r.json()["error"]["code"]) == (400, code), r.text[:300]
    assert changes(before, await snapshot(engines)) == {}
