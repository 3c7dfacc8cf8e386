"""An export an outsider can verify: tools/verify_ledger_export.py (standard library only)
recomputes the hash chain of a real export, and fails when one row is altered."""

from __future__ import annotations

import ast
import csv
import io
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.integration.ledger.conftest import Api
from tests.integration.ledger.helpers import (
    allow_adjustments,
    funded,
    natural,
    post,
    refunded,
    released,
)

TOOL = Path(__file__).parents[3] / "tools" / "verify_ledger_export.py"
MAY, JUNE = datetime(2026, 5, 5, tzinfo=UTC), datetime(2026, 6, 5, tzinfo=UTC)


def verify(path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-I", str(TOOL), str(path), *args],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


async def journal(api: Api, ledger: AsyncEngine) -> None:
    """Events in May and June, a staff adjustment whose reason and memo a spreadsheet would
    run as formulas, and its reversal: every column the chain hashes, exercised."""
    t = api.tenant
    await allow_adjustments(api.client, api.identity, api.tenant)
    await post(ledger, funded(t, "o1", 100_000, 100_000, at=MAY))
    await post(ledger, released(t, "o1", 30_000, 1_500, 0, 70_000, at=MAY.replace(day=9)))
    await post(ledger, funded(t, "o2", 5_000, 5_000, at=JUNE, currency="JPY"))
    await post(ledger, refunded(t, "o1", 10_000, 60_000, at=JUNE.replace(day=7)))
    r = await api.client.post(
        "/v1/ledger/adjustments",
        json={"reason": "=HYPERLINK(\"http://evil\")", "memo": "-'quoted' — ünïcode",
              "posted_at": JUNE.isoformat(), "lines": [
                  {"account": "suspense", "currency": "USD", "debit": 7, "external_ref": "@ref"},
                  {"account": "bank", "currency": "USD", "credit": 7}]},
    )  # fmt: skip
    assert r.status_code == 201, r.text
    r = await api.client.post(
        f"/v1/ledger/transactions/{r.json()['id']}/reverse", json={"reason": "posted twice"}
    )
    assert r.status_code == 201, r.text


async def export(api: Api, tmp_path: Path, fmt: str, **params: str) -> Path:
    r = await api.client.get("/v1/ledger/export", params={"format": fmt, **params})
    assert r.status_code == 200, r.text
    path = tmp_path / f"journal-{uuid.uuid4().hex[:8]}.{fmt}"
    path.write_bytes(r.content)
    return path


async def test_a_real_export_verifies_and_one_altered_row_fails(
    api: Api, ledger: AsyncEngine, tmp_path: Path
) -> None:
    await journal(api, ledger)
    async with ledger.connect() as conn:
        head = (
            await conn.execute(
                sa.text("SELECT head_seq, head_hash FROM books WHERE tenant_id = :t"),
                {"t": api.tenant},
            )
        ).one()
    book = f"tenant:{api.tenant}"
    for fmt in ("csv", "json"):
        path = await export(api, tmp_path, fmt)
        done = verify(path, "--complete", "--head", f"{book}={head.head_seq}:{head.head_hash}")
        assert done.returncode == 0, done.stdout + done.stderr
        assert f"OK: {head.head_seq} transactions in 1 book(s)" in done.stdout

    path = await export(api, tmp_path, "csv")
    wrong = verify(path, "--head", f"{book}={head.head_seq}:{'f' * 64}")
    assert wrong.returncode == 1 and "does not reach the expected head" in wrong.stdout

    text = path.read_text(encoding="utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    for column, value in (("debit", "99999"), ("memo", "innocent"), ("account_code", "bank")):
        altered = tmp_path / f"altered-{column}.csv"
        target = next(i for i, r in enumerate(rows) if r[column] not in ("0", value))
        changed = [dict(r, **{column: value}) if i == target else r for i, r in enumerate(rows)]
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\r\n")
        writer.writeheader()
        writer.writerows(changed)
        altered.write_text("\ufeff" + out.getvalue(), encoding="utf-8")
        failed = verify(altered)
        assert failed.returncode == 1, (column, failed.stdout)
        assert "content does not match its hash" in failed.stdout, failed.stdout

    # a row left out of a whole export is a gap; the chain's links on either side still hold
    dropped = tmp_path / "dropped.csv"
    keep = [
        line for line in text.splitlines(keepends=True) if rows[2]["transaction_id"] not in line
    ]
    dropped.write_text(("\ufeff" + "".join(keep)), encoding="utf-8")
    assert verify(dropped, "--complete").returncode == 1


async def test_a_range_export_opens_with_each_accounts_balance(
    api: Api, ledger: AsyncEngine, tmp_path: Path
) -> None:
    await journal(api, ledger)
    path = await export(api, tmp_path, "csv", **{"from": "2026-06-01T00:00:00Z"})
    rows = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig"))))
    opening = {
        (r["account_code"], r["subledger"]): r for r in rows if r["kind"] == "opening_balance"
    }
    assert set(opening) == {
        ("stripe_clearing", ""),
        ("escrow_held", "o1"),
        ("platform_fee_revenue", ""),
    }  # supplier payable: paid out in the same transaction, balance 0
    assert opening[("escrow_held", "o1")]["credit"] == "70000"
    assert all(r["posted_at"] == "2026-06-01T00:00:00+00:00" for r in opening.values())
    # an account's rows sum to its closing balance
    clearing = sum(
        int(r["debit"]) - int(r["credit"])
        for r in rows
        if r["account_code"] == "stripe_clearing" and r["currency"] == "USD"
    )
    assert clearing == await natural(ledger, api.tenant, "stripe_clearing")
    done = verify(path)
    assert done.returncode == 0, done.stdout
    assert "note:" in done.stdout and "are not in this export" in done.stdout  # May's links
    assert verify(path, "--complete").returncode == 1


def test_the_tool_uses_the_standard_library_only() -> None:
    tree = ast.parse(TOOL.read_text())
    imported = {
        (n.module or "").split(".")[0] if isinstance(n, ast.ImportFrom) else a.name.split(".")[0]
        for n in ast.walk(tree) if isinstance(n, ast.Import | ast.ImportFrom)
        for a in n.names
    }  # fmt: skip
    assert imported - {"__future__"} <= set(sys.stdlib_module_names), imported


def _altered(tmp_path: Path, rows: list[dict[str, str]], name: str) -> Path:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    path = tmp_path / name
    path.write_text("\ufeff" + out.getvalue(), encoding="utf-8")
    return path


async def test_an_export_whose_sides_or_opening_balances_were_altered_fails(
    api: Api, ledger: AsyncEngine, tmp_path: Path
) -> None:
    """The hash covers each posting's signed amount only: moving the same sum onto both
    sides (debit 150 / credit 50 for a debit of 100) inflates every debit and credit total
    while the chain still holds; and opening balances are in no chain at all."""
    await journal(api, ledger)
    path = await export(api, tmp_path, "csv", **{"from": "2026-06-01T00:00:00Z"})
    rows = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig"))))
    assert verify(path).returncode == 0

    i = next(i for i, r in enumerate(rows) if r["kind"] != "opening_balance" and r["debit"] != "0")
    both = [dict(r) for r in rows]
    both[i]["debit"] = str(int(rows[i]["debit"]) + 50)
    both[i]["credit"] = "50"
    done = verify(_altered(tmp_path, both, "both-sides.csv"))
    assert done.returncode == 1, done.stdout

    j = next(i for i, r in enumerate(rows) if r["kind"] == "opening_balance" and r["credit"] != "0")
    opening = [dict(r) for r in rows]
    opening[j]["credit"] = str(int(rows[j]["credit"]) + 1_000_000)
    done = verify(_altered(tmp_path, opening, "opening.csv"))
    assert done.returncode == 1, done.stdout


async def test_an_export_of_the_whole_journal_holds_postings_dated_before_1970(
    api: Api, ledger: AsyncEngine, tmp_path: Path
) -> None:
    """Staff may date a posting at any past moment; an export without ``from`` is the whole
    journal (no opening balances, every link), whatever the earliest date."""
    await allow_adjustments(api.client, api.identity, api.tenant)
    r = await api.client.post(
        "/v1/ledger/adjustments",
        json={"reason": "opening entry of a migrated book", "posted_at": "1969-12-31T00:00:00Z",
              "lines": [{"account": "bank", "currency": "USD", "debit": 500},
                        {"account": "suspense", "currency": "USD", "credit": 500}]},
    )  # fmt: skip
    assert r.status_code == 201, r.text
    await post(ledger, funded(api.tenant, "o1", 1_000, 1_000, at=MAY))
    path = await export(api, tmp_path, "csv")
    rows = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig"))))
    assert [r["kind"] for r in rows].count("opening_balance") == 0
    assert {r["posted_at"][:4] for r in rows} == {"1969", "2026"}
    done = verify(path, "--complete")
    assert done.returncode == 0, done.stdout


async def test_an_export_whose_to_is_not_after_its_from_is_a_422(api: Api) -> None:
    """[from, to) with to <= from holds nothing: a mistaken range, refused as the runs and
    reports refuse theirs, not answered with an export of opening balances only."""
    for fmt in ("csv", "json"):
        for start, end in (("2026-07-01", "2026-01-01"), ("2026-07-01", "2026-07-01")):
            r = await api.client.get(
                "/v1/ledger/export", params={"format": fmt, "from": start, "to": end}
            )
            assert r.status_code == 422, r.text
            assert r.json()["error"]["code"] == "invalid_window", r.text
