"""The break queue's own filters (owner, age) and its count by age."""

from __future__ import annotations

from services.console.domain.breaks import by_age, matching, owners


def brk(i: int, owner: str, age: int) -> dict:
    return {"id": i, "owner": owner, "age_days": age}


QUEUE = [brk(1, "finance", 0), brk(2, "alice", 3), brk(3, "alice", 12), brk(4, "ledger-ops", 45)]


def test_owner_and_age_filters() -> None:
    assert [b["id"] for b in matching(QUEUE, "alice", None)] == [2, 3]
    assert [b["id"] for b in matching(QUEUE, None, 10)] == [3, 4]
    assert [b["id"] for b in matching(QUEUE, "alice", 10)] == [3]
    assert matching(QUEUE, None, None) == QUEUE


def test_every_break_falls_in_exactly_one_age_bucket() -> None:
    counts = by_age(QUEUE)
    assert [(c.label, c.count) for c in counts] == [
        ("today", 1), ("1 to 7 days", 1), ("8 to 30 days", 1), ("over 30 days", 1),
    ]  # fmt: skip
    assert sum(c.count for c in counts) == len(QUEUE)
    assert {c.total for c in counts} == {4}


def test_owners_are_listed_once_in_order() -> None:
    assert owners(QUEUE) == ["alice", "finance", "ledger-ops"]
