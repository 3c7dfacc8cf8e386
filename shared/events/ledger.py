"""Events of the ledger service.

``ledger.chain_checkpoint`` publishes a book's head outside the database its owner could
rewrite: Kafka keeps what was said, so ``tradeflow ledger verify`` can tell a journal whose
tail was cut off or re-hashed from one that merely grew (docs/ledger.md, "Books").
"""

from __future__ import annotations

from pydantic import Field

from shared.events.registry import EventModel, event


@event("ledger.chain_checkpoint", version=1)
class ChainCheckpoint(EventModel):
    """Book ``book`` (``tenant:<id>``, or ``legacy`` for the chain from before books) had, at
    ``occurred_at``, ``seq`` transactions, the last of which hashes to ``hash``."""

    book: str = Field(min_length=1, max_length=520)
    seq: int = Field(ge=1)
    hash: str = Field(pattern=r"^[0-9a-f]{64}$")
