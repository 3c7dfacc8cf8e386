"""Who may issue and manage which API key, and what a key may be (shared/identity/rules)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest

from shared.identity.rules import (
    GrantDenied,
    KeyRequestInvalid,
    check_grant,
    check_new_key,
    parse_overlap,
)


@dataclass(frozen=True)
class Caller:
    tenant_id: str
    scopes: frozenset[str]


PLATFORM = Caller("t", frozenset({"platform"}))
PLATFORM_FINANCE = Caller("t", frozenset({"platform", "finance"}))


def test_a_key_has_known_scopes_and_a_supplier_key_names_its_supplier() -> None:
    assert check_new_key(["supplier", "platform", "supplier"], "portal", "s1") == (
        "platform",
        "supplier",
    )
    for scopes, party, code in (
        ([], None, "invalid_scopes"),
        (["admin"], None, "invalid_scopes"),
        (["supplier"], None, "party_required"),
        (["platform"], "s1", "party_without_supplier_scope"),
    ):
        with pytest.raises(KeyRequestInvalid) as refused:
            check_new_key(scopes, "n", party)
        assert refused.value.code == code
    for name in ("", " padded ", "x" * 101):
        with pytest.raises(KeyRequestInvalid, match="name"):
            check_new_key(["platform"], name, None)


def test_a_platform_key_grants_platform_and_supplier_but_finance_needs_finance() -> None:
    check_grant(PLATFORM, ["platform"])
    check_grant(PLATFORM, ["platform", "supplier"])
    with pytest.raises(GrantDenied) as refused:
        check_grant(PLATFORM, ["platform", "finance"])
    assert refused.value.code == "insufficient_scope" and "finance" in refused.value.message
    check_grant(PLATFORM_FINANCE, ["finance"])
    check_grant(PLATFORM_FINANCE, ["finance", "platform", "supplier"])


def test_a_supplier_key_cannot_grant_platform() -> None:
    with pytest.raises(GrantDenied):
        check_grant(Caller("t", frozenset({"supplier"})), ["platform"])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0", timedelta(0)),
        ("90", timedelta(seconds=90)),
        ("90s", timedelta(seconds=90)),
        ("15m", timedelta(minutes=15)),
        ("24h", timedelta(hours=24)),
        ("7d", timedelta(days=7)),
        (" 30d ", timedelta(days=30)),
    ],
)
def test_overlaps_read_like_durations(text: str, expected: timedelta) -> None:
    assert parse_overlap(text) == expected


@pytest.mark.parametrize("text", ["", "-1h", "1.5h", "24 hours", "31d", "1h30m", "h"])
def test_an_overlap_that_is_no_duration_or_too_long_is_refused(text: str) -> None:
    with pytest.raises(KeyRequestInvalid) as refused:
        parse_overlap(text)
    assert refused.value.code == "invalid_overlap"
