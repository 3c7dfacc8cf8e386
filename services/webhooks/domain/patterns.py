"""Which events an endpoint wants: exact types, ``<service>.*`` wildcards, or ``*``.

A pattern is checked when it is registered against the catalogue the caller passes (the
event types of ``shared/events``), so a typo is a 422, not an endpoint that silently never
hears anything.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable

from services.webhooks.domain.errors import InvalidEventPattern

EVERYTHING = "*"


def matches(patterns: Iterable[str], event_type: str) -> bool:
    """True when one of ``patterns`` admits ``event_type``."""
    for pattern in patterns:
        if pattern in (EVERYTHING, event_type):
            return True
        if pattern.endswith(".*") and event_type.startswith(pattern[:-1]):
            return True
    return False


def checked_patterns(patterns: Iterable[str], known_types: Collection[str]) -> list[str]:
    """``patterns`` deduplicated in their order, each an event type of ``known_types``, a
    wildcard over the types of one of their prefixes, or ``*``; else ``InvalidEventPattern``."""
    prefixes = {t.partition(".")[0] for t in known_types}
    out: list[str] = []
    for pattern in patterns:
        if pattern in out:
            continue
        if (
            pattern == EVERYTHING
            or pattern in known_types
            or (pattern.endswith(".*") and pattern[:-2] in prefixes)
        ):
            out.append(pattern)
        else:
            raise InvalidEventPattern(
                f"{pattern!r} is no event type; use a type of the catalogue, '<service>.*' or '*'"
            )
    if not out:
        raise InvalidEventPattern("enabled_events must name at least one event type or '*'")
    return out
