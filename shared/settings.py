"""Configuration from the environment (pydantic-settings).

The three infrastructure endpoints use the conventional names that the deploy scripts and
the tests export (DATABASE_URL, KAFKA_BOOTSTRAP_SERVERS, STRIPE_API_BASE); everything else
is prefixed TRADEFLOW_. DATABASE_URL names the server; each service uses its own database
on it, ``<database_prefix><service>`` (tradeflow_escrow, tradeflow_ledger, ...), and the
platform's identity component (API keys) uses ``<database_prefix>identity``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import make_url

DEV_STRIPE_KEY = "sk_test_tradeflow123"  # stripe-mock accepts only [A-Za-z0-9] after sk_test_
DEV_WEBHOOK_SECRET = "whsec_tradeflow_dev"
DEV_CONSOLE_SECRET = "tradeflow-console-development-secret"

SERVICES = ("escrow", "ledger", "financing")
# The webhooks service consumes the others' topics and publishes only its own notices; it is
# kept apart from SERVICES, which the trade flows (and their tests) iterate over.
WEBHOOKS = "webhooks"
ALL_SERVICES = (*SERVICES, WEBHOOKS)
# The web console (services/console) has no database and no topic: it reads the others'
# public HTTP APIs. Kept out of ALL_SERVICES, which drives migrations, topics and health.
CONSOLE = "console"
IDENTITY = "identity"  # the API keys every service authenticates against (shared/identity)


class Settings(BaseSettings):
    # hide_input_in_errors: a refused configuration must not print the secrets it was given
    # (a validation error's input_value would carry a live Stripe key into the crash log).
    model_config = SettingsConfigDict(
        env_prefix="TRADEFLOW_", extra="ignore", hide_input_in_errors=True
    )

    # Production unless told otherwise: a deployment that forgets the variable must not run
    # with the development webhook secret from this repository (anyone could forge webhooks).
    environment: Literal["development", "test", "production"] = "production"
    log_level: str = "INFO"
    log_json: bool = True

    database_url: str = Field(
        "postgresql+asyncpg://tradeflow:tradeflow@127.0.0.1:5432/postgres",
        validation_alias=AliasChoices("TRADEFLOW_DATABASE_URL", "DATABASE_URL"),
    )
    database_prefix: str = "tradeflow_"
    kafka_bootstrap_servers: str = Field(
        "127.0.0.1:9092",
        validation_alias=AliasChoices(
            "TRADEFLOW_KAFKA_BOOTSTRAP_SERVERS", "KAFKA_BOOTSTRAP_SERVERS"
        ),
    )
    topic_prefix: str = "tradeflow"

    stripe_api_base: str = Field(
        "https://api.stripe.com",
        validation_alias=AliasChoices("TRADEFLOW_STRIPE_API_BASE", "STRIPE_API_BASE"),
    )
    stripe_api_key: SecretStr = SecretStr(DEV_STRIPE_KEY)
    stripe_webhook_secret: SecretStr = SecretStr(DEV_WEBHOOK_SECRET)

    # The request guard (shared/http/guard.py): the largest body a request may carry, and
    # how deep its JSON may nest (the deepest body of the APIs nests 4 levels).
    max_request_body_bytes: int = Field(1_048_576, gt=0)
    max_json_depth: int = Field(32, gt=0)

    # How often the ledger publishes its books' heads (ledger.chain_checkpoint events).
    ledger_checkpoint_seconds: int = Field(60, ge=1, le=86_400)
    # Events the ledger's consumer fetches and posts per database transaction (its books stay
    # locked for the transaction: staff postings to them wait at most that long).
    ledger_max_records: int = Field(2_000, ge=1, le=100_000)
    # Where the ledger asks escrow what it holds (three-way check); None: this host's escrow
    # port. The ledger calls it with the finance key of the caller who ran the check.
    ledger_escrow_api_base: str | None = None

    host: str = "127.0.0.1"
    # Processes serving each API (`tradeflow <svc> api`); 0 = one per core.
    api_workers: int = Field(1, ge=0, le=64)
    escrow_port: int = 8001
    ledger_port: int = 8002
    financing_port: int = 8003
    webhooks_port: int = 8004
    console_port: int = 8005

    # The web console (docs/console.md). Its cookies are encrypted and signed with a key
    # derived from this secret; the APIs it calls are at these URLs (None: TRADEFLOW_HOST and
    # the service's port, as on one machine).
    console_secret: SecretStr = SecretStr(DEV_CONSOLE_SECRET)
    console_session_seconds: int = Field(8 * 3_600, ge=60, le=7 * 86_400)
    # How long a sign-in link (``POST /sign-in-links``, printed by the demo) stays usable.
    console_link_seconds: int = Field(30 * 60, ge=30, le=86_400)
    escrow_url: str | None = None
    ledger_url: str | None = None
    financing_url: str | None = None

    # Outbound webhooks (services/webhooks, docs/webhooks.md). The wait after each failed
    # attempt, in seconds (JSON list in the environment); jitter spreads each by a fraction.
    webhook_retry_schedule: list[int] = Field(
        default_factory=lambda: [5, 300, 1_800, 7_200, 18_000, *[36_000] * 6], max_length=50
    )
    webhook_retry_jitter: float = Field(0.2, ge=0, lt=1)
    # An endpoint is disabled after this many failed attempts in a row, the first of them
    # at least webhook_disable_after_seconds ago.
    webhook_disable_after_failures: int = Field(15, ge=1)
    webhook_disable_after_seconds: int = Field(86_400, ge=0)
    webhook_secret_overlap_seconds: int = Field(86_400, ge=0, le=7 * 86_400)
    webhook_connect_timeout: float = Field(5.0, gt=0, le=60)
    webhook_read_timeout: float = Field(10.0, gt=0, le=120)
    webhook_concurrency: int = Field(64, ge=1, le=1_000)  # attempts in flight per worker
    webhook_endpoint_concurrency: int = Field(4, ge=1, le=100)  # per endpoint, all workers
    webhook_tenant_concurrency: int = Field(16, ge=1, le=1_000)  # per tenant, all workers
    # Destination ports beyond 443, 80 and 8443 an endpoint URL may name (a loopback
    # receiver in development may use any port).
    webhook_allowed_ports: list[int] = Field(default_factory=list, max_length=100)
    # Threads of the webhooks' own DNS pool (never the event loop's shared default pool).
    webhook_dns_threads: int = Field(8, ge=1, le=256)
    # Escrow: a refund Stripe still refuses after this many attempts raises
    # escrow.refund_stuck and shows in GET /v1/operations/stuck-refunds (retries go on).
    escrow_refund_stuck_after_attempts: int = Field(5, ge=1, le=1_000)
    # Escrow: a person's deadline whose action is refused this many times gives up: it is
    # parked (escrow.deadline_parked, GET /v1/operations/parked-deadlines), not retried.
    escrow_deadline_max_attempts: int = Field(8, ge=1, le=1_000)
    # Financing: an order it does not hold whose UUIDv7 id is younger than this (and newer
    # than the escrow events it has read) is order_not_yet_known, not order_unknown.
    financing_order_arrival_seconds: int = Field(600, ge=0, le=86_400)
    # http:// and loopback receivers (a developer's http://127.0.0.1:PORT). None: allowed in
    # development only; refused in production whatever it says.
    webhook_allow_loopback: bool | None = None

    @model_validator(mode="after")
    def _no_default_secrets_in_production(self) -> Settings:
        if self.environment == "production":
            for name, value, default in (
                ("stripe_api_key", self.stripe_api_key, DEV_STRIPE_KEY),
                ("stripe_webhook_secret", self.stripe_webhook_secret, DEV_WEBHOOK_SECRET),
            ):
                if value.get_secret_value() == default:
                    raise ValueError(f"TRADEFLOW_{name.upper()} must be set in production")
            if self.webhook_allow_loopback:
                raise ValueError("TRADEFLOW_WEBHOOK_ALLOW_LOOPBACK is refused in production")
        return self

    @property
    def webhooks_allow_loopback(self) -> bool:
        """May webhooks go to http:// and loopback addresses (development receivers)?"""
        if self.webhook_allow_loopback is None:
            return self.environment == "development"
        return self.webhook_allow_loopback and self.environment != "production"

    def service_database_url(self, service: str) -> str:
        url = make_url(self.database_url).set(database=f"{self.database_prefix}{service}")
        return url.render_as_string(hide_password=False)

    @property
    def identity_database_url(self) -> str:
        return self.service_database_url(IDENTITY)

    def service_port(self, service: str) -> int:
        port: int = getattr(self, f"{service}_port")
        return port

    def api_url(self, service: str) -> str:
        """Where a client (the console) reaches ``service``'s HTTP API."""
        configured: str | None = getattr(self, f"{service}_url", None)
        if configured:
            return configured.rstrip("/")
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::") else self.host
        return f"http://{host}:{self.service_port(service)}"

    def topic(self, service: str) -> str:
        """The topic a service publishes its events to."""
        return f"{self.topic_prefix}.{service}.events"

    @property
    def dlq_topic(self) -> str:
        return f"{self.topic_prefix}.dead-letter"
