"""What each gateway sends Stripe, on the wire: the path, the form and above all the
Idempotency-Key, which must stay the one derived from the reservation or the event (a
changed key would let a retry move the money a second time)."""

from __future__ import annotations

from typing import Any

from services.escrow.adapters.stripe_gateway import StripeGateway
from services.financing.adapters.stripe_gateway import StripeTransferGateway
from shared.settings import Settings
from tests.support.stripe_answer import Sent, stripe_answering

TRANSFER = {"amount": 5_377_680, "currency": "USD", "destination": "acct_1Supplier",
            "transfer_group": "ord_1", "metadata": {"advance_id": "adv_1"}}  # fmt: skip
TRANSFER_FORM = {
    "amount": ["5377680"],
    "currency": ["usd"],
    "destination": ["acct_1Supplier"],
    "transfer_group": ["ord_1"],
    "metadata[advance_id]": ["adv_1"],
}


async def _one(answer: dict[str, Any], make: Any) -> tuple[Any, Sent]:
    async with stripe_answering(200, answer) as stub:
        result = await make(stub.api_base)
    [sent] = stub.sent
    return result, sent


def keyed(sent: Sent) -> tuple[str, str]:
    return sent.path, sent.headers["idempotency-key"]


def _escrow(api_base: str) -> StripeGateway:
    return StripeGateway("sk_test_x", api_base, "whsec_x")


async def test_financing_transfers_with_the_lien_events_key() -> None:
    def make(api_base: str) -> Any:
        gateway = StripeTransferGateway(Settings(environment="test", stripe_api_base=api_base))
        return gateway.transfer(**TRANSFER, idempotency_key="financing-disburse-e1")

    transfer_id, sent = await _one({"id": "tr_1", "object": "transfer"}, make)
    assert transfer_id == "tr_1"
    assert keyed(sent) == ("/v1/transfers", "financing-disburse-e1")
    assert sent.form == TRANSFER_FORM


async def test_escrow_transfers_the_same_way_with_the_payouts_key() -> None:
    def make(api_base: str) -> Any:
        return _escrow(api_base).transfer(**TRANSFER, idempotency_key="escrow-payout-p1")

    transfer_id, sent = await _one({"id": "tr_2", "object": "transfer"}, make)
    assert transfer_id == "tr_2"
    assert keyed(sent) == ("/v1/transfers", "escrow-payout-p1")
    assert sent.form == TRANSFER_FORM


async def test_escrow_creates_a_payment_intent_and_a_refund_with_their_keys() -> None:
    answer = {"id": "pi_1", "object": "payment_intent", "client_secret": "pi_1_secret_x"}

    def fund(api_base: str) -> Any:
        return _escrow(api_base).create_payment_intent(
            amount=1_000, currency="EUR", order_id="ord_1", metadata={"payment_id": "pay_1"},
            idempotency_key="escrow-fund-pay_1",
        )  # fmt: skip

    intent, sent = await _one(answer, fund)
    assert (intent.id, intent.client_secret) == ("pi_1", "pi_1_secret_x")
    assert keyed(sent) == ("/v1/payment_intents", "escrow-fund-pay_1")
    assert sent.form == {
        "amount": ["1000"],
        "currency": ["eur"],
        "transfer_group": ["ord_1"],
        "metadata[payment_id]": ["pay_1"],
        "automatic_payment_methods[enabled]": ["true"],
    }

    def refund(api_base: str) -> Any:
        return _escrow(api_base).refund(
            payment_intent_id="pi_1", amount=400, metadata={"refund_id": "rf_1"},
            idempotency_key="escrow-refund-rf_1",
        )  # fmt: skip

    refund_id, sent = await _one({"id": "re_1", "object": "refund"}, refund)
    assert refund_id == "re_1"
    assert keyed(sent) == ("/v1/refunds", "escrow-refund-rf_1")
    assert sent.form == {
        "payment_intent": ["pi_1"],
        "amount": ["400"],
        "metadata[refund_id]": ["rf_1"],
    }
