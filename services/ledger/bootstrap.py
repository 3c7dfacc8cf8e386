"""Composition root of the ledger service: builds engine, producer and gateways. Never at import."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from fastapi import APIRouter
from sqlalchemy.ext.asyncio import AsyncConnection

from services.ledger.entrypoints.cli import app as commands
from services.ledger.service_layer.breaks import FinanceUsers
from services.ledger.service_layer.escrow import EscrowHoldings
from services.ledger.service_layer.stripe import StripeAccounts, StripeBalance
from services.ledger.service_layer.unit_of_work import LedgerUnitOfWork
from services.runner import ConsumerSpec, ServiceDefinition
from shared.clock import Clock
from shared.runtime import Runtime, build_runtime
from shared.settings import Settings
from shared.timers import TimerHandler

NAME = "ledger"


@dataclass
class LedgerContainer:
    """What the ledger's entrypoints hand their use cases: units of work on the ledger
    database (events to its topic), the clock, and Stripe's balance transactions (by
    default the API the settings name; a test may set ``stripe``)."""

    runtime: Runtime
    stripe: StripeBalance | None = None
    accounts: StripeAccounts | None = None
    escrow: EscrowHoldings | None = None

    @property
    def clock(self) -> Clock:
        return self.runtime.clock

    @property
    def topic(self) -> str:
        return self.runtime.topic

    @property
    def checkpoint_every(self) -> timedelta:
        return timedelta(seconds=self.runtime.settings.ledger_checkpoint_seconds)

    def unit_of_work(self) -> LedgerUnitOfWork:
        """A fresh unit of work (one transaction) on the ledger database."""
        return LedgerUnitOfWork(self.runtime.engine, self.runtime.topic)

    def finance_users(self) -> FinanceUsers:
        from services.ledger.adapters.finance_users import IdentityFinanceUsers

        return IdentityFinanceUsers(self.runtime.identity)

    def stripe_balance(self) -> StripeBalance:
        if self.stripe is not None:
            return self.stripe
        from services.ledger.adapters.stripe_source import StripeBalanceTransactions

        settings = self.runtime.settings
        return StripeBalanceTransactions(
            settings.stripe_api_key.get_secret_value(), settings.stripe_api_base
        )

    def stripe_accounts(self) -> StripeAccounts:
        """Which Stripe accounts the platform's key can read (a binding's proof)."""
        if self.accounts is not None:
            return self.accounts
        from services.ledger.adapters.stripe_source import StripeConnectedAccounts

        settings = self.runtime.settings
        return StripeConnectedAccounts(
            settings.stripe_api_key.get_secret_value(), settings.stripe_api_base
        )

    def escrow_holdings(self) -> EscrowHoldings:
        """Escrow's API the settings name (by default this host's escrow port)."""
        if self.escrow is not None:
            return self.escrow
        from services.ledger.adapters.escrow_source import EscrowHeldApi

        settings = self.runtime.settings
        base = settings.ledger_escrow_api_base or f"http://{settings.host}:{settings.escrow_port}"
        return EscrowHeldApi(base)

    async def close(self) -> None:
        await self.runtime.close()


async def bootstrap(
    settings: Settings | None = None, clock: Clock | None = None
) -> LedgerContainer:
    return LedgerContainer(await build_runtime(NAME, settings or Settings(), clock))


def consumers(container: LedgerContainer) -> Sequence[ConsumerSpec]:
    from services.ledger.entrypoints.consumers import CONSUMER_NAME, post_event, post_events

    settings = container.runtime.settings
    return [
        ConsumerSpec(
            name=CONSUMER_NAME,
            topics=[settings.topic("escrow"), settings.topic("financing")],
            handler=post_event,
            batch_handler=post_events,
            max_records=settings.ledger_max_records,  # cost per event falls with the batch
        )
    ]


def routers() -> Sequence[APIRouter]:
    from services.ledger.entrypoints.http import (
        accounts,
        breaks,
        export,
        fx,
        journal,
        periods,
        recon,
        reports,
    )

    return [
        accounts.router, journal.router, periods.router, export.router, recon.router,
        reports.router, breaks.router, fx.router,
    ]  # fmt: skip


def timers(container: LedgerContainer) -> Mapping[str, TimerHandler]:
    """Each book's head published at a fixed interval (service_layer/timers.py)."""
    from services.ledger.entrypoints.timers import handlers

    return handlers(container)


async def start_timers(container: LedgerContainer, conn: AsyncConnection, now: datetime) -> None:
    from services.ledger.entrypoints.timers import start

    await start(container, conn, now)


DEFINITION = ServiceDefinition(
    name=NAME, bootstrap=bootstrap, routers=routers, consumers=consumers, timers=timers,
    start_timers=start_timers, commands=commands,
)  # fmt: skip
