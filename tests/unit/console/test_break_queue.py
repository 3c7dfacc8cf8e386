"""The break queue's age fields as typed and its count by age (the ledger filters)."""

from __future__ import annotations

from services.console.domain.breaks import age_of, by_age, owners


def brk(i: int, owner: str, age: int) -> dict:
    return {"id": i, "owner": owner, "age_days": age}


QUEUE = [brk(1, "finance", 0), brk(2, "alice", 3), brk(3, "alice", 12), brk(4, "ledger-ops", 45)]


def test_an_age_field_is_a_whole_number_of_days_or_no_filter() -> None:
    assert [age_of(t) for t in ("0", " 12 ", "36500")] == [0, 12, 36_500]
    found = [age_of(t) for t in (None, "", "-1", "1.5", "x", "36501", "\uff11\uff12", "\u00b2")]
    assert found == [None] * 8  # fullwidth digits, a superscript two: isdigit() but not ASCII


def test_every_break_falls_in_exactly_one_age_bucket() -> None:
    counts = by_age(QUEUE)
    assert [(c.label, c.count) for c in counts] == [
        ("today", 1), ("1 to 7 days", 1), ("8 to 30 days", 1), ("over 30 days", 1),
    ]  # fmt: skip
    assert sum(c.count for c in counts) == len(QUEUE)
    assert {c.total for c in counts} == {4}


def test_owners_are_listed_once_in_order() -> None:
    assert owners(QUEUE) == ["alice", "finance", "ledger-ops"]
