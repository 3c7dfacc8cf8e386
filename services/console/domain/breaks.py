"""The break queue's filters that the ledger's list does not take (owner, age), and the
count of breaks by age. Pure."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

# Age buckets, in whole days since the break was first seen: (label, lowest, highest).
AGE_BUCKETS: tuple[tuple[str, int, int | None], ...] = (
    ("today", 0, 0),
    ("1 to 7 days", 1, 7),
    ("8 to 30 days", 8, 30),
    ("over 30 days", 31, None),
)


@dataclass(frozen=True)
class AgeCount:
    label: str
    count: int
    total: int


def matching(
    breaks: Sequence[dict[str, Any]], owner: str | None, min_age_days: int | None
) -> list[dict[str, Any]]:
    """The breaks of ``owner`` (any owner when None) at least ``min_age_days`` old."""
    found = []
    for b in breaks:
        if owner and b.get("owner") != owner:
            continue
        if min_age_days is not None and int(b["age_days"]) < min_age_days:
            continue
        found.append(b)
    return found


def by_age(breaks: Sequence[dict[str, Any]]) -> list[AgeCount]:
    total = len(breaks)
    counts = []
    for label, low, high in AGE_BUCKETS:
        n = sum(
            1
            for b in breaks
            if int(b["age_days"]) >= low and (high is None or int(b["age_days"]) <= high)
        )
        counts.append(AgeCount(label, n, total))
    return counts


def owners(breaks: Sequence[dict[str, Any]]) -> list[str]:
    return sorted({str(b["owner"]) for b in breaks if b.get("owner")})
