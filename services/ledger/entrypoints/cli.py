"""``tradeflow ledger verify | audit | export | reconcile | report``: finance operations from
a shell."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TypeVar

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncEngine

from services.ledger.adapters.checkpoints import read_published
from services.ledger.adapters.stripe_source import StripeBalanceTransactions, parse_report_csv
from services.ledger.domain.chain import LEGACY_BOOK, Published, book_of
from services.ledger.domain.recon import RunWindow, StripeLine
from services.ledger.service_layer import commands, queries
from services.ledger.service_layer.unit_of_work import NO_EVENTS, LedgerUnitOfWork
from shared.db import make_engine
from shared.pagination import MAX_LIMIT, Page
from shared.settings import Settings

app = typer.Typer(no_args_is_help=True, help="The ledger service.")
console = Console(stderr=True)
T = TypeVar("T")

DatabaseUrl = typer.Option(None, "--database-url", help="Ledger database (default: from settings)")


def run(database_url: str | None, work: Callable[[AsyncEngine], Awaitable[T]]) -> T:
    async def main() -> T:
        engine = make_engine(database_url or Settings().service_database_url("ledger"), pool_size=2)
        try:
            return await work(engine)
        finally:
            await engine.dispose()

    return asyncio.run(main())


def uow(engine: AsyncEngine) -> LedgerUnitOfWork:
    """A unit of work for one of the CLI's use cases (none stages an event)."""
    return LedgerUnitOfWork(engine, NO_EVENTS)


@app.command()
def verify(
    tenant: str | None = typer.Option(None, help="Verify one tenant's book (default: every book)"),
    checkpoints: bool = typer.Option(
        True, help="Also check the books against the checkpoints published on Kafka"
    ),
    database_url: str | None = DatabaseUrl,
) -> None:
    """Recompute every book's hash chain from genesis and hold it against the heads published
    to Kafka; name the first broken link of each book, exit 1 if any."""
    settings = Settings()

    async def work(engine: AsyncEngine) -> bool:
        published: dict[str, Published] = {}
        if checkpoints:
            topic = settings.topic("ledger")
            published = await read_published(settings.kafka_bootstrap_servers, topic)
            if tenant is not None:
                published = {b: p for b, p in published.items() if b == book_of(tenant)}
        verified = await queries.verify_books(uow(engine), tenant, published)
        reports, problems = verified.reports, verified.contradicted
        ok = True
        for r in reports:
            if r.book == LEGACY_BOOK and not r.checked and r.ok:
                continue  # a journal that began with books has no legacy chain
            if r.broken is None:
                console.print(f"[green]✓[/] {r.book}: {r.checked} transactions, head {r.head}")
                continue
            ok = False
            b = r.broken
            console.print(f"[red]✗ {r.book}: first broken link: seq {b.seq}, transaction "
                          f"{b.transaction_id}: {b.reason}")  # fmt: skip
            console.print(f"  {r.checked} transactions before it verified")
        total = sum(r.checked for r in reports)
        console.print(f"hash chains: {total} transactions in {len(reports)} chains")
        if checkpoints:
            for problem in problems:
                console.print(f"[red]✗ {problem}")
            console.print(f"checkpoints on Kafka: {len(published)} books checked,"
                          f" {len(problems)} contradicted")  # fmt: skip
        return ok and not problems

    if not run(database_url, work):
        raise typer.Exit(1)


@app.command()
def audit(database_url: str | None = DatabaseUrl) -> None:
    """Check every ledger invariant on the live database; exit 1 on any failure."""

    async def work(engine: AsyncEngine) -> bool:
        checks = await queries.audit(uow(engine))
        for check in checks:
            mark = "[green]✓[/]" if check.ok else "[red]✗[/]"
            console.print(f"{mark} {check.name}")
            for detail in check.details:
                console.print(f"    {detail}")
        return all(c.ok for c in checks)

    if not run(database_url, work):
        raise typer.Exit(1)


@app.command("export")
def export_journal(
    tenant: str | None = typer.Option(None, help="Tenant whose book to export (default: all)"),
    format: str = typer.Option("csv", help="csv or json"),
    out: Path | None = typer.Option(None, help="File to write (default: standard output)"),
    start: datetime | None = typer.Option(None, "--from", help="First posting date (inclusive)"),
    end: datetime | None = typer.Option(None, "--to", help="Last posting date (exclusive)"),
    database_url: str | None = DatabaseUrl,
) -> None:
    """Export the journal, one row per posting (columns in docs/ledger.md)."""
    if format not in ("csv", "json"):
        raise typer.BadParameter("format is csv or json")
    first = (start or datetime(1, 1, 1)).replace(
        tzinfo=start.tzinfo if start and start.tzinfo else UTC
    )
    last = (end or datetime(9999, 1, 1)).replace(tzinfo=end.tzinfo if end and end.tzinfo else UTC)

    async def work(engine: AsyncEngine) -> None:
        sink = out.open("w", encoding="utf-8", newline="") if out else sys.stdout
        try:
            async for chunk in queries.export_journal(uow(engine), tenant, first, last, format):
                sink.write(chunk)
        finally:
            if out:
                sink.close()

    run(database_url, work)


class ReportKind(StrEnum):
    INCOME_STATEMENT = "income-statement"
    BALANCE_SHEET = "balance-sheet"


class ReportFormat(StrEnum):
    JSON = "json"
    CSV = "csv"
    PDF = "pdf"


@app.command("report")
def period_report(
    kind: ReportKind = typer.Argument(..., help="income-statement or balance-sheet"),
    tenant: str = typer.Option(..., help="Tenant whose books to report"),
    currency: str = typer.Option(..., help="ISO 4217 currency (amounts in minor units)"),
    start: datetime = typer.Option(..., "--from", help="First instant included (UTC)"),
    end: datetime = typer.Option(..., "--to", help="First instant excluded (UTC)"),
    format: ReportFormat = typer.Option(ReportFormat.JSON, "--format", help="json, csv or pdf"),
    out: Path = typer.Option(..., "--out", help="File to write"),
    database_url: str | None = DatabaseUrl,
) -> None:
    """Write a period report of [--from, --to) in one currency, beside the previous period
    of equal length, as the API's ``GET /v1/ledger/reports/...`` gives it (same JSON, CSV
    and PDF). Exits 2 on a bad period or currency, nothing written."""
    from services.ledger.adapters import report_documents as documents
    from services.ledger.domain.reports import InvalidPeriod, Period
    from services.ledger.entrypoints.http.report_schemas import (
        BalanceSheetPublic,
        IncomeStatementPublic,
    )

    code = currency.strip().upper()
    if len(code) != 3 or not code.isalpha():
        raise typer.BadParameter("an ISO 4217 code such as USD", param_hint="--currency")
    try:
        period = Period.of(*(d if d.tzinfo else d.replace(tzinfo=UTC) for d in (start, end)))
    except InvalidPeriod as exc:
        raise typer.BadParameter(str(exc), param_hint="--from/--to") from exc
    who = commands.Caller(tenant_id=tenant, actor="cli")

    async def work(engine: AsyncEngine) -> bytes:
        if kind is ReportKind.INCOME_STATEMENT:
            found = await queries.income_statement(uow(engine), who, code, period)
            s = found.report
            if format is ReportFormat.CSV:
                return documents.statement_csv(s).encode("utf-8")
            if format is ReportFormat.PDF:
                return documents.statement_pdf(s, tenant, found.final, found.closed_through)
            return IncomeStatementPublic.of(found).model_dump_json(indent=2).encode()
        sheet = await queries.balance_sheet(uow(engine), who, code, period)
        b = sheet.report
        if format is ReportFormat.CSV:
            return documents.sheet_csv(b).encode("utf-8")
        if format is ReportFormat.PDF:
            return documents.sheet_pdf(b, tenant, sheet.final, sheet.closed_through)
        return BalanceSheetPublic.of(sheet).model_dump_json(indent=2).encode()

    body = run(database_url, work)
    out.write_bytes(body)
    console.print(f"{kind.value} {code} {period.start:%Y-%m-%d}..{period.end:%Y-%m-%d}: {out}")


@app.command()
def reconcile(
    tenant: str = typer.Option(..., help="Tenant whose Stripe clearing to reconcile"),
    csv_file: Path | None = typer.Option(
        None, "--csv", help="A Stripe report CSV instead of the API"
    ),
    escrow_only: bool = typer.Option(False, help="Only the three-way escrow-held check"),
    start: datetime | None = typer.Option(
        None, "--from", help="Balance transactions created at or after (UTC)"
    ),
    end: datetime | None = typer.Option(None, "--to", help="... and before (UTC)"),
    escrow_key: str | None = typer.Option(
        None,
        envvar="TRADEFLOW_ESCROW_FINANCE_KEY",
        help="A finance key of the tenant: ask escrow what it holds (the three-way check)",
    ),
    database_url: str | None = DatabaseUrl,
) -> None:
    """Reconcile the tenant's Stripe clearing against its Stripe balance transactions in
    [--from, --to) (booking fees, payouts, adjustments and reserves) and escrow held against
    the escrow service; list the balances and the open breaks. Exits 1 when any break is
    open."""
    settings = Settings()
    cli_caller = commands.Caller(tenant_id=tenant, actor="cli")
    window = RunWindow(
        *(d if d is None or d.tzinfo else d.replace(tzinfo=UTC) for d in (start, end))
    )
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )

    async def work(engine: AsyncEngine) -> int:
        with Progress(*columns, console=console) as bar:
            lines: Iterable[StripeLine] | None = None
            if csv_file is not None:
                total = max(sum(1 for _ in csv_file.open(encoding="utf-8-sig")) - 1, 0)
                task = bar.add_task(f"staging {csv_file.name}", total=total)
                lines = parse_report_csv(csv_file.open(encoding="utf-8-sig"))
            elif not escrow_only:
                task = bar.add_task("pulling Stripe balance transactions", total=None)
                stripe = StripeBalanceTransactions(
                    settings.stripe_api_key.get_secret_value(), settings.stripe_api_base
                )
                lines = await commands.stripe_lines(uow(engine), cli_caller, stripe, window)
                bar.update(task, total=len(lines), description="staging Stripe lines")
            asked = None
            if escrow_key is not None:
                from services.ledger.adapters.escrow_source import EscrowHeldApi

                base = settings.ledger_escrow_api_base or (
                    f"http://{settings.host}:{settings.escrow_port}"
                )
                asked = await EscrowHeldApi(base).held(escrow_key, window.end or datetime.now(UTC))
            step = bar.add_task("matching and three-way check", total=1, start=False)
            result = await commands.reconcile(
                uow(engine), cli_caller,
                source="csv" if csv_file else ("none" if escrow_only else "stripe"),
                lines=lines, now=datetime.now(UTC), window=window, escrow=asked,
                progress=(lambda n: bar.advance(task, n)) if lines is not None else None,
            )  # fmt: skip
            bar.start_task(step)
            bar.update(step, completed=1)
        table = Table(
            title=f"Reconciliation run {result.run_id} ({result.stripe_rows} Stripe lines)"
        )
        table.add_column("outcome")
        table.add_column("count", justify="right")
        for kind, n in result.counts.items():
            table.add_row(kind, str(n))
        console.print(table)
        console.print(f"booked from Stripe: {result.booked} balance transactions")
        for bal in result.balances:
            console.print(
                f"  {bal.currency}: Stripe clearing {bal.clearing}, Stripe balance {bal.stripe},"
                f" difference {bal.difference}"
            )
        still_open = await queries.breaks(
            uow(engine), cli_caller, "open", None, Page(limit=MAX_LIMIT)
        )
        for b in still_open.items:
            console.print(
                f"  [yellow]{b.kind}[/] {b.object_id} {b.currency} ledger={b.ledger_amount}"
                f" other={b.other_amount} owner={b.owner}"
            )
        if still_open.has_more:
            console.print(
                f"  … more than {MAX_LIMIT} open: see GET /v1/ledger/reconciliation/breaks"
            )
        return len(still_open.items)

    if run(database_url, work):
        raise typer.Exit(1)
