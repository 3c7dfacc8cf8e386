"""What a decision's events answer: the conversation they belong to and the event behind them.

A decision made while a request or a consumed event is handled belongs to its conversation
(``shared.correlation``, or the consumed event's envelope). A timer runs outside both, so the
decision that sets a timer writes its ``Cause`` into the timer's payload, and the timer's
decision answers it: the inspection window's acceptance answers the ``inspection_started``
that opened the window; a settlement books its reservation in the conversation (and with the
cause) of the decision that reserved it, as the inline settlement would have. A timer set
before its payload carried a cause starts a conversation of its own, shared by all the
events of its decision.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from uuid import UUID

from shared.events import Envelope


@dataclass(frozen=True)
class Cause:
    correlation_id: UUID
    causation_id: UUID | None = None  # None: a request (or a timer) caused it, not an event

    @classmethod
    def of(cls, env: Envelope) -> Cause:
        """The cause of an event caused by ``env``."""
        return cls(env.correlation_id, env.id)

    def to_payload(self) -> dict[str, str]:
        out = {"correlation_id": str(self.correlation_id)}
        if self.causation_id is not None:
            out["causation_id"] = str(self.causation_id)
        return out

    @classmethod
    def from_payload(cls, payload: Mapping[str, object] | None) -> Cause | None:
        """The cause a timer's payload carries (None for timers set before they carried one)."""
        if not payload or not payload.get("correlation_id"):
            return None
        causation = payload.get("causation_id")
        correlation = UUID(str(payload["correlation_id"]))
        return cls(correlation, UUID(str(causation)) if causation else None)
