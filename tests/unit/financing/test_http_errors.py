"""The one mapping of financing's use-case errors to API answers (entrypoints/http/errors.py)."""

from __future__ import annotations

import pytest

from services.financing.domain.advance import AdvanceRuleViolated
from services.financing.domain.policy import PolicyError
from services.financing.domain.sizing import Reason
from services.financing.entrypoints.http.errors import answered, api_error
from services.financing.service_layer.errors import AdvanceNotFound, AdvanceRefusal, OrderNotFound
from shared.http.errors import ApiError
from shared.unit_of_work import Conflict

CASES = [
    (Conflict("a1 changed"), 409, "concurrent_modification"),
    (AdvanceNotFound("a1"), 404, "advance_not_found"),
    (OrderNotFound("o1"), 404, "order_not_found"),
    (AdvanceRuleViolated("offer_not_open", "closed"), 409, "offer_not_open"),
    (PolicyError("bad rate"), 422, "invalid_policy"),
    (AdvanceRefusal("a1", [Reason("supplier_limit", "over", 5)]), 422, "advance_refused"),
]


@pytest.mark.parametrize(("error", "status", "code"), CASES, ids=[c[2] for c in CASES])
def test_each_refusal_has_its_typed_answer(error: Exception, status: int, code: str) -> None:
    answer = api_error(error)
    assert answer is not None and (answer.status, answer.code) == (status, code)


def test_a_refusal_names_the_advance_and_its_reasons() -> None:
    answer = api_error(AdvanceRefusal(None, [Reason("order_unknown", "no such order")]))
    assert answer is not None and answer.message == "no advance can be offered: order_unknown"
    assert answer.details == {
        "advance_id": None,
        "reasons": [{"code": "order_unknown", "message": "no such order", "available": None}],
    }


def test_anything_else_is_no_refusal() -> None:
    assert api_error(RuntimeError("bug")) is None
    with pytest.raises(RuntimeError), answered():
        raise RuntimeError("bug")
    with pytest.raises(ApiError), answered():
        raise Conflict("still changing")
