"""Who a key acts for (``shared.http.principal.Principal``): tenant-wide keys, supplier keys
bound to a party, and the unbound supplier keys from before party binding. Every branch,
with the status and error code each refusal answers on escrow's and financing's APIs."""

from __future__ import annotations

import pytest

from shared.http.errors import ApiError
from shared.http.principal import Principal


def key(*scopes: str, party: str | None = None) -> Principal:
    return Principal("t1", frozenset(scopes), "k", party)


PLATFORM = key("platform")
FINANCE = key("finance")
WIDE_WITH_PARTY = key("platform", "supplier", party="s1")  # tenant-wide whatever it names
FINANCE_WITH_PARTY = key("finance", "supplier", party="s1")
BOUND = key("supplier", party="s1")
UNBOUND = key("supplier")  # made before party binding
TENANT_WIDE = (PLATFORM, FINANCE, WIDE_WITH_PARTY, FINANCE_WITH_PARTY)


def refusal(call: object, *args: object, **kwargs: object) -> tuple[int, str, str]:
    with pytest.raises(ApiError) as refused:
        call(*args, **kwargs)  # type: ignore[operator]
    return refused.value.status, refused.value.code, refused.value.message


MISMATCH = (403, "party_mismatch", "this API key acts for another supplier")
UNNAMED = (422, "supplier_id_required", "supplier keys must name the supplier_id")


def test_platform_and_finance_keys_are_tenant_wide_whatever_party_they_name() -> None:
    assert all(who.tenant_wide for who in TENANT_WIDE)
    assert not BOUND.tenant_wide and not UNBOUND.tenant_wide


def test_only_a_key_holding_just_the_supplier_scope_is_bound_to_its_party() -> None:
    assert BOUND.bound_party == "s1"
    assert UNBOUND.bound_party is None
    assert all(who.bound_party is None for who in TENANT_WIDE)


def test_a_bound_key_acts_for_its_own_party_only() -> None:
    assert BOUND.may_act_for("s1")
    assert not BOUND.may_act_for("s2")
    assert not BOUND.may_act_for("")


def test_tenant_wide_and_unbound_keys_act_for_every_party() -> None:
    for who in (*TENANT_WIDE, UNBOUND):
        assert who.may_act_for("s1") and who.may_act_for("s2"), who


def test_a_bound_key_acts_for_its_party_named_or_not() -> None:
    assert BOUND.acting_supplier(None) == "s1"
    assert BOUND.acting_supplier("s1") == "s1"


def test_a_bound_key_naming_another_supplier_is_refused_before_any_lookup() -> None:
    assert refusal(BOUND.acting_supplier, "s2") == MISMATCH
    assert refusal(BOUND.acting_supplier, "") == MISMATCH


def test_any_other_key_acts_for_the_supplier_it_names_and_must_name_one() -> None:
    for who in (UNBOUND, *TENANT_WIDE):
        assert who.acting_supplier("s2") == "s2", who
        assert refusal(who.acting_supplier, None) == UNNAMED, who
        assert refusal(who.acting_supplier, "") == UNNAMED, who


@pytest.mark.parametrize("unbound_must_name", [False, True])
def test_a_tenant_wide_key_lists_the_tenant_or_the_supplier_it_names(
    unbound_must_name: bool,
) -> None:
    for who in TENANT_WIDE:
        assert who.supplier_filter(None, unbound_must_name=unbound_must_name) is None
        assert who.supplier_filter("s2", unbound_must_name=unbound_must_name) == "s2"


@pytest.mark.parametrize("unbound_must_name", [False, True])
def test_a_bound_key_lists_its_own_partys_only(unbound_must_name: bool) -> None:
    assert BOUND.supplier_filter(None, unbound_must_name=unbound_must_name) == "s1"
    assert BOUND.supplier_filter("s1", unbound_must_name=unbound_must_name) == "s1"
    refused = refusal(BOUND.supplier_filter, "s2", unbound_must_name=unbound_must_name)
    assert refused == MISMATCH


def test_an_unbound_supplier_key_lists_like_a_tenant_wide_one_on_escrow() -> None:
    assert UNBOUND.supplier_filter(None, unbound_must_name=False) is None
    assert UNBOUND.supplier_filter("s2", unbound_must_name=False) == "s2"
    assert UNBOUND.supplier_filter("", unbound_must_name=False) == ""


def test_an_unbound_supplier_key_must_name_its_supplier_on_financing() -> None:
    assert UNBOUND.supplier_filter("s2", unbound_must_name=True) == "s2"
    assert refusal(UNBOUND.supplier_filter, None, unbound_must_name=True) == UNNAMED
    assert refusal(UNBOUND.supplier_filter, "", unbound_must_name=True) == UNNAMED


def test_the_actor_is_the_keys_name() -> None:
    assert BOUND.actor == "apikey:k"
