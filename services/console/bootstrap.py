"""The console's composition root: its settings, the HTTP clients to the services' APIs,
the session codec and the templates, built in the app's lifespan (never at import).

The console is a backend for the browser: it owns no database and no topic, and reads and
writes only through the services' public HTTP APIs, with the signed-in person's API key
(docs/console.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import httpx

from services.console.adapters.api import ServiceApi
from services.console.adapters.cookies import SessionCodec
from services.console.adapters.escrow import EscrowClient
from services.console.adapters.financing import FinancingClient
from services.console.adapters.ledger import LedgerClient
from services.console.adapters.runs import RunJobs
from services.console.adapters.sign_in_links import SignInLinks
from services.console.domain.sign_in_links import link_key
from shared.clock import Clock, SystemClock
from shared.settings import DEV_CONSOLE_SECRET, Settings

HERE = Path(__file__).parent
UPSTREAMS = ("escrow", "ledger", "financing")


class ConsoleMisconfigured(RuntimeError):
    pass


@dataclass
class ConsoleContainer:
    settings: Settings
    codec: SessionCodec
    http: dict[str, httpx.AsyncClient]
    links: SignInLinks
    runs: RunJobs
    clock: Clock = field(default_factory=SystemClock)

    @property
    def secure_cookies(self) -> bool:
        """Cookies only over HTTPS, except on a developer's machine (http://127.0.0.1)."""
        return self.settings.environment != "development"

    def api(self, service: str, api_key: str) -> ServiceApi:
        return ServiceApi(service, self.http[service], api_key)

    def ledger(self, api_key: str) -> LedgerClient:
        return LedgerClient(self.api("ledger", api_key))

    def escrow(self, api_key: str) -> EscrowClient:
        return EscrowClient(self.api("escrow", api_key))

    def financing(self, api_key: str) -> FinancingClient:
        return FinancingClient(self.api("financing", api_key))

    async def close(self) -> None:
        await self.runs.close()
        for client in self.http.values():
            await client.aclose()


def bootstrap(
    settings: Settings,
    transports: dict[str, httpx.AsyncBaseTransport] | None = None,
    clock: Clock | None = None,
) -> ConsoleContainer:
    """``transports`` (tests): the services' apps in process instead of their URLs."""
    secret = settings.console_secret.get_secret_value()
    if settings.environment == "production" and secret == DEV_CONSOLE_SECRET:
        raise ConsoleMisconfigured("TRADEFLOW_CONSOLE_SECRET must be set in production")
    http = {
        s: httpx.AsyncClient(
            base_url=settings.api_url(s),
            timeout=httpx.Timeout(10.0, connect=3.0),
            transport=(transports or {}).get(s),
        )
        for s in UPSTREAMS
    }
    codec = SessionCodec(secret, settings.console_session_seconds)
    links = SignInLinks(link_key(secret))
    clock = clock or SystemClock()
    return ConsoleContainer(settings, codec, http, links, RunJobs(clock), clock)
