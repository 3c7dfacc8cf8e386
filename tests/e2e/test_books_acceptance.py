"""Issue 12's "done when", on the real stack: books that match Stripe and the bank.

Two tenants trade through the APIs of the services running as processes (Kafka, PostgreSQL,
stripe-mock): card fundings confirmed by signed Stripe webhooks, releases with platform fees
(Stripe transfers), a cancellation refunded through Stripe, in USD and EUR. stripe-mock keeps
no balance, so the balance transactions Stripe would report (processing fees on the charges,
payouts to the bank) are written as the platform's itemised balance report CSV from the
charge, transfer and refund ids escrow recorded (``services/demo/stripe_report.py``). Then,
over the API, the way finance does it (docs/ledger.md, "Proving the books for a date"):

- each tenant's reconciliation run of the window, given the report holding both tenants'
  lines, sees only its own, books the fees and the payout, and its summary shows Stripe
  clearing equal to the Stripe balance per currency to the cent, with no break;
- an escrow.funded event the ledger's consumer never receives (skipped in Kafka: the
  consumer group's offset moved past it while the consumer was down) is a three-way break
  (``escrow=ask``) naming the ledger as the one that disagrees;
- the period reports of the window balance per currency (assets = liabilities + equity +
  net income), as JSON, CSV and PDF;
- the journal export verifies with ``tools/verify_ledger_export.py`` (standard library only).
"""

from __future__ import annotations

import asyncio
import csv
import io
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import zip_longest
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from services.demo.stripe_report import (
    BalanceLine,
    balances,
    order_lines,
    payout_line,
    report_csv,
)
from services.demo.support import create_keys, stripe_signed
from services.ledger.entrypoints.consumers import CONSUMER_NAME
from shared.events import Envelope
from shared.settings import Settings
from shared.topics import partition_for, partitions_of
from tests.e2e.conftest import ServiceProcesses

pytestmark = pytest.mark.e2e

T = TypeVar("T")
ROOT = Path(__file__).resolve().parents[2]
BREAK_KINDS = ("_in_ledger", "_in_stripe", "_mismatch", "_disagrees", "_disagree")
# The platform's fee covers Stripe's 2.9% + fixed on the card charge, so each balance is
# positive and has something to pay out.
FEE_POLICY = {"basis_points": 500, "fixed_fees": {"USD": 1_000, "EUR": 800}}


async def until(what: str, probe: Callable[[], Awaitable[T | None]], within: float = 30) -> T:
    deadline = time.monotonic() + within
    while True:
        found = await probe()
        if found is not None:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.25)


@dataclass
class Tenant:
    """One tenant's keys and clients on the running services, and the orders it traded."""

    id: str
    settings: Settings
    keys: dict[str, dict[str, str]]
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        base = f"http://{self.settings.host}"
        self.escrow = httpx.AsyncClient(base_url=f"{base}:{self.settings.escrow_port}", timeout=30)
        self.ledger = httpx.AsyncClient(base_url=f"{base}:{self.settings.ledger_port}", timeout=30)

    async def call(
        self, client: httpx.AsyncClient, method: str, path: str, scope: str, **kw: Any
    ) -> Any:
        headers = dict(self.keys[scope])
        if method != "GET":
            headers["Idempotency-Key"] = str(uuid.uuid4())
        r = await client.request(method, path, headers=headers | kw.pop("headers", {}), **kw)
        assert r.status_code in (200, 201), f"{method} {path} -> {r.status_code}: {r.text}"
        return r.json() if r.headers.get("content-type", "").startswith("application/json") else r

    async def order(self, order_id: str) -> dict[str, Any]:
        got: dict[str, Any] = await self.call(
            self.escrow, "GET", f"/v1/orders/{order_id}", "platform"
        )
        return got

    async def create(self, currency: str, amounts: tuple[int, ...]) -> dict[str, Any]:
        body = {
            "buyer_id": f"buyer-{self.id}",
            "supplier_id": "supplier-shenzhen",
            "supplier_account_id": "acct_1SupplierShenzhen",
            "currency": currency,
            "total": sum(amounts),
            "milestones": [
                {"name": f"milestone {n}", "amount": a, "kind": "contract"}
                for n, a in enumerate(amounts, start=1)
            ],
        }
        created: dict[str, Any] = await self.call(
            self.escrow, "POST", "/v1/orders", "platform", json=body
        )
        return created

    async def fund_by_card(self, order: dict[str, Any]) -> None:
        """POST /fund (a PaymentIntent on stripe-mock), then Stripe's signed webhook."""
        oid = order["order_id"]
        funding = await self.call(
            self.escrow, "POST", f"/v1/orders/{oid}/fund", "platform", json={}
        )
        event = {
            "id": f"evt_{uuid.uuid4().hex}",
            "object": "event",
            "type": "payment_intent.succeeded",
            "data": {
                "object": {
                    "id": funding["stripe_payment_intent_id"],
                    "object": "payment_intent",
                    "amount": funding["amount"],
                    "amount_received": funding["amount"],
                    "currency": order["currency"].lower(),
                    "latest_charge": f"ch_{uuid.uuid4().hex[:16]}",
                    "metadata": {"order_id": oid, "payment_id": funding["payment_id"],
                                 "tenant_id": self.id},
                }
            },
        }  # fmt: skip
        body, headers = stripe_signed(event, self.settings.stripe_webhook_secret.get_secret_value())
        r = await self.escrow.post("/v1/webhooks/stripe", content=body, headers=headers)
        assert r.status_code == 200, r.text
        assert (await self.order(oid))["funded"] == order["total"]

    async def trade(
        self, currency: str, amounts: tuple[int, ...], release: int, cancel: bool = False
    ) -> dict[str, Any]:
        """An order funded by card; its first ``release`` milestones accepted (each release
        pays the supplier through a Stripe transfer, less the platform fee); then, with
        ``cancel``, the rest refunded through Stripe."""
        order = await self.create(currency, amounts)
        oid = order["order_id"]
        await self.fund_by_card(order)
        for m in order["milestones"][:release]:
            await self.call(
                self.escrow, "POST", f"/v1/orders/{oid}/milestones/{m['milestone_id']}/accept",
                "platform", json={},
            )  # fmt: skip
        if cancel:
            await self.call(
                self.escrow, "POST", f"/v1/orders/{oid}/cancel", "platform",
                json={"reason": "buyer withdrew"},
            )  # fmt: skip

        async def settled() -> dict[str, Any] | None:
            o = await self.order(oid)
            paid = [p for p in o["payouts"] if p.get("stripe_transfer_id")]
            refunded = [r for r in o["refunds"] if r.get("stripe_refund_id")]
            return o if len(paid) == release and len(refunded) == int(cancel) else None

        done = await until(f"order {oid} to settle", settled)
        self.orders[oid] = done
        return done

    async def trial_balance(self) -> dict[str, dict[str, int]]:
        """Per currency, each account's debit minus credit."""
        tb = await self.call(self.ledger, "GET", "/v1/ledger/trial-balance", "finance")
        return {
            c["currency"]: {ln["account"]: ln["debit"] - ln["credit"] for ln in c["lines"]}
            for c in tb["currencies"]
        }

    async def ledger_caught_up(self) -> None:
        """Until the ledger has posted every event of the tenant's orders: platform fees and
        escrow held per currency as escrow shows them."""
        want: dict[str, dict[str, int]] = {}
        for o in self.orders.values():
            w = want.setdefault(o["currency"], {"platform_fee_revenue": 0, "escrow_held": 0})
            w["platform_fee_revenue"] -= sum(p["platform_fee"] for p in o["payouts"])
            w["escrow_held"] -= o["held"]

        async def posted() -> bool | None:
            tb = await self.trial_balance()
            ok = all(
                tb.get(cur, {}).get(code, 0) == amount
                for cur, codes in want.items()
                for code, amount in codes.items()
            )
            return True if ok else None

        await until(f"the ledger to post tenant {self.id}'s events", posted)

    async def reconcile(self, report: str, start: datetime, end: datetime, **params: str) -> Any:
        return await self.call(
            self.ledger, "POST", "/v1/ledger/reconciliation/runs", "finance",
            params={"source": "csv", "from": start.isoformat(), "to": end.isoformat(), **params},
            content=report.encode(), headers={"Content-Type": "text/csv"},
        )  # fmt: skip

    async def open_breaks(self) -> list[dict[str, Any]]:
        page = await self.call(
            self.ledger, "GET", "/v1/ledger/reconciliation/breaks", "finance",
            params={"status": "open", "limit": 100},
        )  # fmt: skip
        data: list[dict[str, Any]] = page["data"]
        return data

    async def aclose(self) -> None:
        await self.escrow.aclose()
        await self.ledger.aclose()


def stripe_objects(lines: list[BalanceLine]) -> set[str]:
    return {ln.source_id for ln in lines}


@dataclass
class Books:
    a: Tenant
    b: Tenant
    start: datetime  # the window reconciled and reported: [start, end)
    end: datetime
    lines: dict[str, list[BalanceLine]]  # per tenant, the report's lines
    runs: dict[str, Any]  # per tenant, its run's answer
    orders: dict[str, list[dict[str, Any]]]  # per tenant, the orders of the window
    report: str


def two_tenants_apart(partitions: list[int]) -> tuple[str, str]:
    """Two fresh tenant ids whose events go to different partitions (shared/topics.py), so
    the event skipped for one in Kafka can be no event of the other."""
    a = f"books-a-{uuid.uuid4().hex[:8]}"
    while True:
        b = f"books-b-{uuid.uuid4().hex[:8]}"
        if partition_for(a, partitions) != partition_for(b, partitions):
            return a, b


async def escrow_partitions(settings: Settings) -> list[TopicPartition]:
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap_servers)
    await consumer.start()
    try:
        return await partitions_of(consumer, settings.topic("escrow"))
    finally:
        await consumer.stop()


@pytest.fixture(scope="module")
async def books(running_services: Settings) -> Any:
    settings = running_services
    partitions = [tp.partition for tp in await escrow_partitions(settings)]
    ids = two_tenants_apart(partitions)
    a, b = [Tenant(t, settings, await create_keys(settings, t)) for t in ids]
    try:
        start = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=10)
        for t in (a, b):
            await t.call(t.escrow, "PUT", "/v1/fee-policy", "finance", json=FEE_POLICY)
        await asyncio.gather(
            # A: USD 10,000.00, 60% released, the rest refunded when the buyer cancels
            a.trade("USD", (600_000, 400_000), release=1, cancel=True),
            # B: USD 3,000.00 released in two; EUR 2,000.00 in one
            b.trade("USD", (150_000, 150_000), release=2),
            b.trade("EUR", (200_000,), release=1),
        )
        await asyncio.gather(a.ledger_caught_up(), b.ledger_caught_up())

        # What Stripe's report says: the lines of each tenant's orders, then a payout of
        # about half of each balance to the bank (whole units, so visible in a statement).
        at = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=2)
        lines: dict[str, list[BalanceLine]] = {}
        for t in (a, b):
            own = [ln for o in t.orders.values() for ln in order_lines(o, at)]
            for (_, cur), bal in sorted(balances(own).items()):
                payout = bal // 2 // 100 * 100
                own.append(payout_line(f"po_{uuid.uuid4().hex[:14]}", t.id, cur, payout, at))
            lines[t.id] = own
        # The platform's report holds both tenants' lines, interleaved.
        both = zip_longest(*lines.values())
        report = report_csv([ln for pair in both for ln in pair if ln is not None])
        end = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=2)
        runs = {t.id: await t.reconcile(report, start, end) for t in (a, b)}
        orders = {t.id: list(t.orders.values()) for t in (a, b)}
        yield Books(a, b, start, end, lines, runs, orders, report)
    finally:
        await a.aclose()
        await b.aclose()


async def test_each_tenant_reconciles_stripe_clearing_to_the_stripe_balance(books: Books) -> None:
    assert books.report.count("\n") == 1 + sum(len(ls) for ls in books.lines.values())
    for t in (books.a, books.b):
        run, own = books.runs[t.id], books.lines[t.id]
        charges = [ln for ln in own if ln.category == "charge"]
        payouts = [ln for ln in own if ln.category == "payout"]
        # its own lines only, every one of them: the other tenant's are not its
        assert run["stripe_rows"] == len(own), run
        # each processing fee booked, each payout and its arrival at the bank (two journal
        # transactions); every gross an event booked matched
        assert run["booked"] == len(charges) + 2 * len(payouts), run
        assert run["matched"] == len(own) - len(payouts), run
        for kind in ("missing_in_ledger", "missing_in_stripe", "amount_mismatch",
                     "escrow_held_mismatch", "date_mismatch"):  # fmt: skip
            assert run[kind] == 0, (kind, run)
        # Stripe clearing equals the Stripe balance, per currency, to the cent
        expected = {cur: bal for (tenant, cur), bal in balances(own).items() if tenant == t.id}
        assert {x["currency"]: x for x in run["balances"]} == {
            cur: {"currency": cur, "ledger_clearing": bal, "stripe_balance": bal, "difference": 0}
            for cur, bal in expected.items()
        }, run
        assert all(bal > 0 for bal in expected.values())
        assert await t.open_breaks() == []
        # the fees are expenses, the payout is in the bank
        tb = await t.trial_balance()
        for cur in expected:
            mine = [ln for ln in own if ln.currency == cur]
            assert tb[cur]["psp_fee_expense"] == sum(ln.fee for ln in mine)
            assert tb[cur]["bank"] == -sum(ln.gross for ln in mine if ln.category == "payout")
            assert tb[cur]["stripe_clearing"] == expected[cur]
    assert {(x["currency"]) for x in books.runs[books.b.id]["balances"]} == {"USD", "EUR"}


async def test_each_tenants_books_hold_its_own_stripe_objects_booked_once(books: Books) -> None:
    a, b = books.a, books.b
    # The same report again: nothing is booked twice, the balances stay as they were.
    for t in (a, b):
        run = await t.reconcile(books.report, books.start, books.end)
        assert run["booked"] == 0 and run["balances"] == books.runs[t.id]["balances"], run
        assert await t.open_breaks() == []
    # nothing of B's is in A's journal, and the other way round
    for t, other in ((a, b), (b, a)):
        export = await t.call(
            t.ledger, "GET", "/v1/ledger/export", "finance", params={"format": "json"}
        )
        rows = export["rows"]
        assert rows and {r["tenant_id"] for r in rows} == {t.id}
        refs = {r["external_ref"] for r in rows if r["external_ref"]}
        assert refs >= stripe_objects(books.lines[t.id])
        assert not refs & stripe_objects(books.lines[other.id])
        assert not {r["subledger"] for r in rows} & set(other.orders)


async def skip_event_in_kafka(
    settings: Settings, tenant: str, is_it: Callable[[Envelope], bool]
) -> Envelope:
    """With the ledger's consumer down: wait until the escrow event ``is_it`` is on the
    tenant's partition, then move the ledger's consumer group past it, so the ledger never
    receives it. Every record skipped with it must be one that posts nothing."""
    partitions = await escrow_partitions(settings)
    tp = partitions[partition_for(tenant, [p.partition for p in partitions])]
    group = f"{settings.topic_prefix}.{CONSUMER_NAME}"
    reader = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        group_id=group,
        enable_auto_commit=False,
        isolation_level="read_committed",
    )
    await reader.start()
    try:
        reader.assign([tp])
        committed = await reader.committed(tp)
        assert committed is not None
        reader.seek(tp, committed)
        seen: list[tuple[int, Envelope]] = []
        deadline = time.monotonic() + 20
        while not any(is_it(e) for _, e in seen):
            assert time.monotonic() < deadline, f"the event never reached Kafka: {seen}"
            fetched = await reader.getmany(tp, timeout_ms=500)
            seen += [
                (r.offset, Envelope.from_kafka(r.value, r.headers)) for r in fetched.get(tp, [])
            ]
        offset, event = next((o, e) for o, e in seen if is_it(e))
        skipped = [e for o, e in seen if o < offset]
        assert all(
            e.tenant_id == tenant and e.type in ("escrow.order_created", "escrow.funding_requested")
            for e in skipped
        ), [e.type for e in skipped]
        # The group has no member now (its only consumer left it), so a commit from outside
        # the group is accepted; retried while the broker still counts the member.
        deadline = time.monotonic() + 30
        while True:
            try:
                await reader.commit({tp: offset + 1})
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.5)
        return event
    finally:
        await reader.stop()


async def ledger_group_stable(settings: Settings) -> None:
    """Until the restarted consumer has joined its group again (state Stable)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    await admin.start()
    group = f"{settings.topic_prefix}.{CONSUMER_NAME}"
    try:

        async def stable() -> bool | None:
            described = await admin.describe_consumer_groups([group])
            states = [g[2] for response in described for g in response.groups]
            return True if states == ["Stable"] else None

        await until("the ledger's consumer to join its group again", stable)
    finally:
        await admin.close()


async def test_the_period_reports_balance_per_currency(books: Books) -> None:
    window = {"from": books.start.isoformat(), "to": books.end.isoformat()}
    for t in (books.a, books.b):
        for cur in sorted({ln.currency for ln in books.lines[t.id]}):
            q = window | {"currency": cur}
            income = await t.call(t.ledger, "GET", "/v1/ledger/reports/income-statement",
                                  "finance", params=q)  # fmt: skip
            sheet = await t.call(t.ledger, "GET", "/v1/ledger/reports/balance-sheet",
                                 "finance", params=q)  # fmt: skip
            mine = [ln for ln in books.lines[t.id] if ln.currency == cur]
            fees = {x["code"]: x["amount"] for x in income["expenses"]}
            assert fees["psp_fee_expense"] == sum(ln.fee for ln in mine)
            revenue = {x["code"]: x["amount"] for x in income["income"]}
            assert revenue["platform_fee_revenue"] == sum(
                p["platform_fee"] for o in books.orders[t.id] if o["currency"] == cur
                for p in o["payouts"]
            )  # fmt: skip
            # assets = liabilities + equity + net income, at the period's end and start
            closing = (sheet["total_liabilities"]["closing"] + sheet["equity"]["closing"]
                       + sheet["net_income"])  # fmt: skip
            assert sheet["total_assets"]["closing"] == closing, sheet
            assert sheet["closing_difference"] == sheet["opening_difference"] == 0
            assert sheet["net_income"] == income["net_income"]["amount"]
            assets = {x["code"]: x["closing"] for x in sheet["assets"]}
            assert assets["bank"] == -sum(ln.gross for ln in mine if ln.category == "payout")

            r = await t.ledger.get("/v1/ledger/reports/balance-sheet",
                                   params=q | {"format": "csv"}, headers=t.keys["finance"])  # fmt: skip
            assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
            rows = {
                row["code"]: row for row in csv.DictReader(io.StringIO(r.text.lstrip("\ufeff")))
            }
            assert int(rows["total_liabilities_and_equity"]["closing"]) == int(
                rows["total_assets"]["closing"]
            ) == sheet["total_assets"]["closing"]  # fmt: skip
            for path in ("balance-sheet", "income-statement"):
                r = await t.ledger.get(f"/v1/ledger/reports/{path}",
                                       params=q | {"format": "pdf"}, headers=t.keys["finance"])  # fmt: skip
                assert r.status_code == 200 and r.content.startswith(b"%PDF"), r.text[:200]
                assert r.headers["content-type"] == "application/pdf"


async def test_the_journal_export_verifies_without_tradeflow(books: Books, tmp_path: Path) -> None:
    for t in (books.a, books.b):
        r = await t.ledger.get(
            "/v1/ledger/export", params={"format": "csv"}, headers=t.keys["finance"]
        )
        assert r.status_code == 200, r.text
        journal = tmp_path / f"{t.id}.csv"
        journal.write_bytes(r.content)
        done = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, str(ROOT / "tools" / "verify_ledger_export.py"), str(journal),
             "--complete"],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        assert "OK:" in done.stdout and f"tenant:{t.id}" in done.stdout
        # the verified closing balances: the bank holds the payouts
        closing = {
            (parts[1], parts[-4]): int(parts[-1])
            for line in done.stdout.splitlines()
            if line.startswith(f"tenant:{t.id}") and (parts := line.split())
        }
        for cur in {ln.currency for ln in books.lines[t.id]}:
            paid = -sum(ln.gross for ln in books.lines[t.id]
                        if ln.currency == cur and ln.category == "payout")  # fmt: skip
            assert closing["bank", cur] == paid


# Last: it trades again and books another charge's fee, which the period reports and the
# export above (dated today, whole days) would then count.
async def test_an_escrow_event_the_ledger_never_got_is_a_three_way_break(
    books: Books, running_services: Settings, service_processes: ServiceProcesses
) -> None:
    a, b, settings = books.a, books.b, running_services
    order = await a.create("USD", (250_000,))
    oid = order["order_id"]
    service_processes.stop("ledger", "consume")
    try:
        await a.fund_by_card(order)
        lost = await skip_event_in_kafka(
            settings, a.id, lambda e: e.type == "escrow.funded" and e.subject == oid
        )
    finally:
        service_processes.start("ledger", "consume")
    await ledger_group_stable(settings)
    funded = await a.order(oid)
    assert lost.data["amount"] == 250_000 and funded["held"] == 250_000
    # The ledger's consumer is back and posting (B trades again, and it is booked); the
    # funding of A's order it never got is in no transaction.
    again = await b.trade("USD", (100_000,), release=1)
    await b.ledger_caught_up()
    r = await a.ledger.get(
        "/v1/ledger/transactions",
        params={"source_event_id": str(lost.id)},
        headers=a.keys["finance"],
    )
    assert r.status_code == 404 and r.json()["error"]["code"] == "transaction_not_found", r.text

    # Stripe's report has the charge; the three-way run asks escrow what it holds.
    at = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=2)
    charge = order_lines(funded, at)
    end = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=2)
    run = await a.reconcile(report_csv(books.lines[a.id] + charge), books.start, end, escrow="ask")
    assert run["ledger_disagrees"] == 1 and run["escrow_held_mismatch"] == 1, run
    assert run["missing_in_ledger"] == 1, run
    assert run["escrow_disagrees"] == run["stripe_disagrees"] == run["three_way_disagree"] == 0
    breaks = {(x["kind"], x["object_id"]): x for x in await a.open_breaks()}
    assert set(breaks) == {
        ("ledger_disagrees", oid), ("escrow_held_mismatch", oid),
        ("missing_in_ledger", charge[0].source_id),
    }  # fmt: skip
    three_way = breaks["ledger_disagrees", oid]
    assert (three_way["ledger_amount"], three_way["other_amount"]) == (0, 250_000)
    assert three_way["owner"] == "ledger-ops" and three_way["tenant_id"] == a.id
    # The charge's fee is booked from Stripe's line; its gross is what the ledger lacks.
    (usd,) = run["balances"]
    assert usd["difference"] == -250_000, usd
    assert usd["stripe_balance"] == balances(books.lines[a.id] + charge)[a.id, "USD"]

    # B's books, asked the same way (its new trade's lines added), are untouched by A's break.
    run_b = await b.reconcile(
        report_csv(books.lines[b.id] + order_lines(again, at)), books.start, end, escrow="ask"
    )
    breaks_found = {k: v for k, v in run_b.items() if k.endswith(BREAK_KINDS)}
    assert set(breaks_found.values()) == {0}, run_b
    assert all(x["difference"] == 0 for x in run_b["balances"]), run_b
    assert await b.open_breaks() == []
