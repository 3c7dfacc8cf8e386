"""Liens for supplier advances: placed or refused, repaid first out of releases."""

from __future__ import annotations

from services.escrow.domain.liens import release_lien, request_lien
from services.escrow.domain.milestones import accept_milestone
from services.escrow.domain.payouts import begin_release, complete_payout
from shared.events.escrow import LienPlaced, LienRefused, LienReleased, MilestoneReleased
from tests.unit.escrow.builders import funded, ms, new_order


def test_a_lien_is_placed_and_repaid_before_the_supplier_is_paid() -> None:
    e = funded(new_order(fee_bps=100))
    e, ev = request_lien(e, "adv-1", 50_000, "USD", "supplier-1")
    assert isinstance(ev[0], LienPlaced) and e.lien is not None
    assert request_lien(e, "adv-1", 50_000, "USD", "supplier-1")[1] == ev  # asked twice
    e, _ = accept_milestone(e, ms(e, 0))
    e, _ = begin_release(e, ms(e, 0))
    e, ev = complete_payout(e, e.payouts[0].payout_id, None)
    r = ev[0]
    assert isinstance(r, MilestoneReleased)
    assert (r.gross, r.platform_fee, r.lien_repayment, r.supplier_net) == (30_000, 300, 29_700, 0)
    assert r.advance_id == "adv-1"
    e, _ = accept_milestone(e, ms(e, 1))
    e, _ = begin_release(e, ms(e, 1))
    e, ev = complete_payout(e, e.payouts[1].payout_id, "tr_2")
    r = ev[0]
    assert (r.platform_fee, r.lien_repayment, r.supplier_net) == (400, 20_300, 19_300)
    assert isinstance(ev[1], LienReleased) and ev[1].reason == "repaid" and ev[1].repaid == 50_000


def test_liens_are_refused_with_every_reason() -> None:
    e = new_order()
    _, ev = request_lien(e, "adv-1", 10**9, "EUR", "someone-else")
    assert isinstance(ev[0], LienRefused)
    assert set(ev[0].reasons) == {
        "escrow_not_fully_funded",
        "currency_mismatch",
        "supplier_mismatch",
        "amount_exceeds_future_releases",
    }
    e = funded(e)
    e, _ = request_lien(e, "adv-1", 1_000, "USD", "supplier-1")
    _, ev = request_lien(e, "adv-2", 1_000, "USD", "supplier-1")
    assert isinstance(ev[0], LienRefused) and ev[0].reasons == ["lien_already_active"]


def test_financing_releases_a_lien_once() -> None:
    e = funded(new_order())
    e, _ = request_lien(e, "adv-1", 1_000, "USD", "supplier-1")
    e, ev = release_lien(e, "adv-1", "advance cancelled")
    assert isinstance(ev[0], LienReleased) and e.lien is not None and e.lien.outstanding == 0
    assert release_lien(e, "adv-1", "again") == (e, [])


def test_a_released_lien_is_not_placed_again_by_a_late_or_repeated_request() -> None:
    # Financing's request redelivered under a new id (or replayed from the dead-letter topic)
    # after the lien was released must not put a released advance back on the order.
    e = funded(new_order())
    e, _ = request_lien(e, "adv-1", 1_000, "USD", "supplier-1")
    e, _ = release_lien(e, "adv-1", "advance cancelled")
    e, ev = request_lien(e, "adv-1", 1_000, "USD", "supplier-1")
    assert isinstance(ev[0], LienRefused) and ev[0].reasons == ["lien_already_released"]
    assert e.lien is not None and e.lien.outstanding == 0
    # Reordered: the release arrives before the request it releases.
    f = funded(new_order())
    f, ev = release_lien(f, "adv-2", "advance cancelled")
    assert ev == []
    f, ev = request_lien(f, "adv-2", 1_000, "USD", "supplier-1")
    assert isinstance(ev[0], LienRefused) and ev[0].reasons == ["lien_already_released"]
    assert f.lien is None
    # A later, different advance is still welcome.
    f, ev = request_lien(f, "adv-3", 1_000, "USD", "supplier-1")
    assert isinstance(ev[0], LienPlaced)
