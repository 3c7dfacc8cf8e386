"""Waking the relay after the commit, not inside it (shared/outbox.py): which transactions
wake it, and how a burst of commits becomes few NOTIFYs. The relay itself, woken by real
NOTIFYs, is tested against PostgreSQL in tests/integration/test_backbone.py."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from shared import outbox


@dataclass
class Poked:
    count: int = 0

    def poke(self) -> None:
        self.count += 1


def written(notifier: Poked) -> tuple[Any, dict[str, Any]]:
    info: dict[str, Any] = {outbox._STATE: outbox._WRITTEN, outbox._NOTIFIER: notifier}
    return SimpleNamespace(connection=SimpleNamespace(info=info), invalidated=False), info


def test_a_committed_transaction_wakes_the_relay_once_its_commit_is_over() -> None:
    notifier = Poked()
    conn, info = written(notifier)
    outbox._next_transaction(conn)  # not committed yet: nothing
    assert notifier.count == 0
    outbox._committing(conn)
    assert notifier.count == 0  # COMMIT sent, not yet over
    outbox._returned(None, SimpleNamespace(info=info))  # back in the pool: it is over
    outbox._next_transaction(conn)
    assert notifier.count == 1 and outbox._STATE not in info


def test_a_rolled_back_transaction_wakes_nothing() -> None:
    notifier = Poked()
    conn, info = written(notifier)
    outbox._rolled_back(conn)
    outbox._returned(None, SimpleNamespace(info=info))
    assert notifier.count == 0 and info == {}


@dataclass
class FakeEngine:
    sent: int = 0
    gate: asyncio.Event = field(default_factory=asyncio.Event)

    def execution_options(self, **_: Any) -> FakeEngine:
        return self

    def connect(self) -> FakeEngine:
        return self

    async def __aenter__(self) -> FakeEngine:
        return self

    async def __aexit__(self, *_: Any) -> None:
        return None

    async def execute(self, _: Any) -> None:
        await self.gate.wait()
        self.sent += 1


async def test_pokes_while_a_notify_is_on_its_way_become_one_more() -> None:
    engine = FakeEngine()
    notifier = outbox._Notifier(engine)  # type: ignore[arg-type]
    for _ in range(5):
        notifier.poke()
        await asyncio.sleep(0)
    engine.gate.set()
    assert notifier._task is not None
    await notifier._task
    assert engine.sent == 2
