"""The supplier's desk: which order shows an offer, which an advance, which a button."""

from __future__ import annotations

from datetime import UTC, datetime

from services.console.domain.supplier import desk

NOW = datetime(2026, 12, 3, 13, 0, tzinfo=UTC)


def order(oid: str, status: str = "funded") -> dict:
    return {"order_id": oid, "status": status}


def advance(oid: str, state: str, expires: str = "2026-12-04T13:00:00Z") -> dict:
    return {"advance_id": f"adv-{oid}-{state}", "order_id": oid, "state": state,
            "expires_at": expires, "expected_repayment_at": "2027-02-01T13:00:00+00:00",
            "term_days": 60}  # fmt: skip


def test_an_open_offer_is_the_orders_offer_with_its_repayment_date() -> None:
    [row] = desk([order("o1")], [advance("o1", "offered")], NOW)
    assert row.offer is not None and row.live is None and not row.may_ask
    assert row.expected_repayment == datetime(2027, 2, 1, 13, 0, tzinfo=UTC)


def test_an_expired_offer_leaves_the_button() -> None:
    [row] = desk([order("o1")], [advance("o1", "offered", "2026-12-03T12:59:59Z")], NOW)
    assert row.offer is None and row.may_ask


def test_a_live_advance_hides_offers_and_the_button() -> None:
    [row] = desk([order("o1")], [advance("o1", "offered"), advance("o1", "disbursed")], NOW)
    assert row.live is not None and row.offer is None and not row.may_ask


def test_unfunded_orders_get_no_button_and_finished_orders_are_not_listed() -> None:
    rows = desk([order("o1", "partially_funded"), order("o2", "completed")], [], NOW)
    assert [r.order["order_id"] for r in rows] == ["o1"]
    assert not rows[0].may_ask


def test_the_remaining_supplier_limit_is_read_from_the_headroom_caps() -> None:
    from services.console.domain.supplier import binding_label, remaining_supplier_limit

    rooms = [
        {"currency": "USD", "caps": [{"code": "advance_rate", "available": 9},
                                     {"code": "supplier_limit", "available": 500}]},
        {"currency": "EUR", "caps": [{"code": "advance_rate", "available": 7}]},
    ]  # fmt: skip
    assert remaining_supplier_limit(rooms) == {"USD": 500}  # EUR: no limit set
    assert binding_label("supplier_limit") == "your supplier limit"
    assert binding_label("something_new") == "something new"


def _desk_html(offer: dict) -> str:
    """The desk page as the console renders it (services/console/entrypoints/http/deps.py
    renders with the request, the session and its CSRF token)."""
    from types import SimpleNamespace

    from services.console.entrypoints.http.app import templates

    session = SimpleNamespace(key_name="k", party_id="s1", tenant_id="t1", csrf="csrf")
    request = SimpleNamespace(url=SimpleNamespace(path="/supplier"))
    row = desk([{**order("o1"), "buyer_id": "b1", "currency": "USD", "total": 8_000_000}],
               [offer], NOW)  # fmt: skip
    page = templates().get_template("supplier/desk.html")
    context = {"request": request, "session": session, "csrf_token": "csrf"}
    return page.render(**context, rows=row, advances=[], new_key=lambda: "key")


def test_an_offer_paid_in_another_currency_shows_both_and_the_rate() -> None:
    offer = {
        **advance("o1", "offered"), "principal": 5_544_000, "fee": 166_320, "net": 5_377_680,
        "apr": "0.188144", "currency": "USD",
        "payout": {"currency": "CNY", "net": 37_417_897, "rate": "6.958", "locked_rate": "7.1",
                   "fx_haircut_bps": 200},
    }  # fmt: skip
    html = _desk_html(offer)
    assert "paid as CNY 374,178.97 at 6.958 CNY/USD" in html.replace("\xa0", " ")
    assert "(locked 7.1 less a 200 bp haircut)" in html
    assert "Accept CNY 374,178.97" in html.replace("\xa0", " ")
    one_currency = _desk_html({**offer, "payout": None})
    assert "paid as" not in one_currency
    assert "Accept USD 53,776.80" in one_currency.replace("\xa0", " ")
