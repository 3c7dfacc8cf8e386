"""An advance paid out in another currency (financing.advance_disbursed v2 with payout_fx):
the receivable and the fee stay in the contract currency, the net leaves it through FX
clearing, Stripe clearing is credited in the payout currency with what the transfer sent,
and the haircut kept back is FX revenue; each currency balances."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

import pytest

from services.financing.domain.fx import payout_conversion_of
from services.ledger.domain.journal import check_balanced
from services.ledger.domain.rules import draft_for
from shared.events import Envelope
from shared.events.financing import AdvanceDisbursed


def disbursed(**over: object) -> Envelope:
    fx = payout_conversion_of(5_377_680, "USD", "CNY", Decimal("7.1"), 200)
    fields: dict[str, object] = dict(
        advance_id="a1", order_id="o1", supplier_id="s1", currency="USD", principal=5_544_000,
        fee=166_320, net_disbursed=5_377_680, stripe_transfer_id="tr_1",
        payout_currency="CNY", payout_amount=fx.to_amount, payout_rate=fx.rate,
        locked_rate="7.1", fx_haircut_bps=200, payout_fx=fx,
    )  # fmt: skip
    fields.update(over)
    event = AdvanceDisbursed.model_validate(fields)
    return Envelope.wrap(event, source="financing", tenant_id="t", subject="o1")


def by_account(env: Envelope) -> dict[tuple[str, str, str, str | None], int]:
    draft = draft_for(env)
    assert draft is not None
    check_balanced(draft.lines)
    out: dict[tuple[str, str, str, str | None], int] = defaultdict(int)
    for line in draft.lines:
        out[(line.code, line.currency, line.subledger, line.external_ref)] += line.amount
    return {k: v for k, v in out.items() if v}


def test_a_cny_payout_of_a_usd_advance_goes_through_fx_clearing() -> None:
    assert by_account(disbursed()) == {
        ("advance_receivable", "USD", "a1", None): 5_544_000,
        ("deferred_fee_income", "USD", "a1", None): -166_320,
        ("fx_clearing", "USD", "", "tr_1"): -5_377_680,
        # 53,776.80 USD at the locked 7.1 = 381,815.28 CNY; 374,178.97 sent; 7,636.31 kept
        ("fx_clearing", "CNY", "", "tr_1"): 38_181_528,
        ("stripe_clearing", "CNY", "", "tr_1"): -37_417_897,
        ("fx_revenue", "CNY", "", None): -763_631,
    }


def test_an_advance_in_one_currency_posts_as_before() -> None:
    env = disbursed(payout_currency=None, payout_amount=None, payout_rate=None,
                    locked_rate=None, fx_haircut_bps=0, payout_fx=None)  # fmt: skip
    assert by_account(env) == {
        ("advance_receivable", "USD", "a1", None): 5_544_000,
        ("deferred_fee_income", "USD", "a1", None): -166_320,
        ("stripe_clearing", "USD", "", "tr_1"): -5_377_680,
    }


def test_a_payout_that_converts_another_amount_than_the_net_is_refused() -> None:
    other = payout_conversion_of(5_000_000, "USD", "CNY", Decimal("7.1"), 200)
    with pytest.raises(ValueError):
        draft_for(disbursed(payout_fx=other))
