"""Every illegal command is refused with a typed error, and the state is left untouched."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from services.escrow.domain.disputes import open_chargeback, open_dispute, resolve_dispute
from services.escrow.domain.errors import (
    EscrowError,
    InvalidAmount,
    InvalidTransition,
    UnknownDispute,
    UnknownMilestone,
)
from services.escrow.domain.funding import request_funding
from services.escrow.domain.milestones import accept_milestone, submit_evidence
from services.escrow.domain.model import Escrow
from services.escrow.domain.payouts import begin_release, complete_payout
from services.escrow.domain.refunds import cancel_order
from tests.unit.escrow.builders import DAY, EVIDENCE, T0, evidenced, funded, ms, new_order


def disputed() -> Escrow:
    e = evidenced(funded(new_order()), 1)
    e, _ = open_dispute(e, ms(e, 1), "broken", [], T0)
    return e


def released_first() -> Escrow:
    e = funded(new_order())
    e, _ = accept_milestone(e, ms(e, 0))
    e, _ = begin_release(e, ms(e, 0))
    e, _ = complete_payout(e, e.payouts[0].payout_id, "tr")
    return e


def cancelled() -> Escrow:
    return cancel_order(new_order(), "x")[0]


def _accepted_under_chargeback() -> Escrow:
    e = funded(new_order())
    e, _ = accept_milestone(e, ms(e, 0))
    return open_chargeback(e, "dp", 100, "fraud")[0]


def _accepted_and_disputed() -> Escrow:
    e = funded(new_order())
    e, _ = accept_milestone(e, ms(e, 0))
    e = evidenced(e, 1)
    return open_dispute(e, ms(e, 1), "x", [], T0)[0]


CASES: list[tuple[str, Callable[[], Escrow], Callable[[Escrow], object], type[EscrowError]]] = [
    (
        "accept before funding",
        new_order,
        lambda e: accept_milestone(e, ms(e, 0)),
        InvalidTransition,
    ),
    (
        "accept a released milestone",
        released_first,
        lambda e: accept_milestone(e, ms(e, 0)),
        InvalidTransition,
    ),
    (
        "accept a disputed milestone",
        disputed,
        lambda e: accept_milestone(e, ms(e, 1)),
        InvalidTransition,
    ),
    (
        "accept on a cancelled order",
        cancelled,
        lambda e: accept_milestone(e, ms(e, 0)),
        InvalidTransition,
    ),
    (
        "release before acceptance",
        lambda: funded(new_order()),
        lambda e: begin_release(e, ms(e, 0)),
        InvalidTransition,
    ),
    ("release twice", released_first, lambda e: begin_release(e, ms(e, 0)), InvalidTransition),
    (
        "release a disputed milestone",
        disputed,
        lambda e: begin_release(e, ms(e, 1)),
        InvalidTransition,
    ),
    (
        "dispute outside inspection",
        lambda: funded(new_order()),
        lambda e: open_dispute(e, ms(e, 1), "x", [], T0),
        InvalidTransition,
    ),
    (
        "dispute after the window",
        lambda: evidenced(funded(new_order()), 1),
        lambda e: open_dispute(e, ms(e, 1), "x", [], T0 + 3 * DAY),
        InvalidTransition,
    ),
    (
        "dispute twice",
        disputed,
        lambda e: open_dispute(e, ms(e, 1), "x", [], T0),
        InvalidTransition,
    ),
    (
        "evidence on a released milestone",
        released_first,
        lambda e: submit_evidence(e, ms(e, 0), "delivery", EVIDENCE["delivery"], "s", T0),
        InvalidTransition,
    ),
    (
        "evidence on a cancelled order",
        cancelled,
        lambda e: submit_evidence(e, ms(e, 1), "shipment", EVIDENCE["shipment"], "s", T0),
        InvalidTransition,
    ),
    (
        "cancel after shipment",
        lambda: evidenced(funded(new_order()), 1),
        lambda e: cancel_order(e, "x"),
        InvalidTransition,
    ),
    ("cancel twice", cancelled, lambda e: cancel_order(e, "x"), InvalidTransition),
    ("cancel during a dispute", disputed, lambda e: cancel_order(e, "x"), InvalidTransition),
    (
        "resolve an unknown dispute",
        disputed,
        lambda e: resolve_dispute(e, "nope", "refund"),
        UnknownDispute,
    ),
    (
        "resolve twice",
        disputed,
        lambda e: resolve_dispute(
            resolve_dispute(e, e.disputes[0].dispute_id, "refund")[0],
            e.disputes[0].dispute_id,
            "refund",
        ),
        InvalidTransition,
    ),
    (
        "split without amount",
        disputed,
        lambda e: resolve_dispute(e, e.disputes[0].dispute_id, "split"),
        InvalidAmount,
    ),
    (
        "split giving everything",
        disputed,
        lambda e: resolve_dispute(e, e.disputes[0].dispute_id, "split", 40_000),
        InvalidAmount,
    ),
    (
        "fund more than the total",
        new_order,
        lambda e: request_funding(e, "p", 100_001, "pi"),
        InvalidAmount,
    ),
    ("fund zero", new_order, lambda e: request_funding(e, "p", 0, "pi"), InvalidAmount),
    (
        "fund a cancelled order",
        cancelled,
        lambda e: request_funding(e, "p", 1, "pi"),
        InvalidTransition,
    ),
    (
        "unknown milestone",
        lambda: funded(new_order()),
        lambda e: accept_milestone(e, "nope"),
        UnknownMilestone,
    ),
    (
        "release under a chargeback",
        _accepted_under_chargeback,
        lambda e: begin_release(e, ms(e, 0)),
        InvalidTransition,
    ),
    (
        "release more than the milestone",
        _accepted_and_disputed,
        lambda e: begin_release(e, ms(e, 0), gross=30_001),
        InvalidAmount,
    ),
    (
        # finance meant a split but picked "release": releasing everything is not what was asked
        "release_amount without a split",
        disputed,
        lambda e: resolve_dispute(e, e.disputes[0].dispute_id, "release", release_amount=5_000),
        InvalidAmount,
    ),
    (
        "release_amount with a refund",
        disputed,
        lambda e: resolve_dispute(e, e.disputes[0].dispute_id, "refund", release_amount=5_000),
        InvalidAmount,
    ),
    (
        "release more than available",
        _accepted_and_disputed,
        lambda e: begin_release(e, ms(e, 0), gross=0),
        InvalidAmount,
    ),
]


@pytest.mark.parametrize(
    ("setup", "command", "error"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_illegal_command_is_refused(
    setup: Callable[[], Escrow], command: Callable[[Escrow], object], error: type[EscrowError]
) -> None:
    state = setup()
    with pytest.raises(error) as exc:
        command(state)
    assert exc.value.code == error.code
