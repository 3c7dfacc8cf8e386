import pytest
from pydantic import ValidationError

from shared.settings import Settings


def test_each_service_gets_its_own_database_on_the_server() -> None:
    s = Settings(environment="test", database_url="postgresql+asyncpg://u:p@db:5432/postgres")
    assert s.service_database_url("ledger") == "postgresql+asyncpg://u:p@db:5432/tradeflow_ledger"
    assert s.topic("escrow") == "tradeflow.escrow.events"


def test_default_secrets_are_refused_in_production(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRADEFLOW_ENVIRONMENT", raising=False)
    with pytest.raises(ValidationError, match="STRIPE_API_KEY"):
        Settings()  # production is the default
    with pytest.raises(ValidationError, match="STRIPE_API_KEY"):
        Settings(environment="production")
    ok = Settings(
        environment="production", stripe_api_key="sk_live_x", stripe_webhook_secret="whsec_x"
    )
    assert ok.environment == "production"


def test_conventional_endpoint_variables_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "k:1")
    monkeypatch.setenv("STRIPE_API_BASE", "http://s:2")
    monkeypatch.setenv("TRADEFLOW_ENVIRONMENT", "development")
    s = Settings()
    assert (s.kafka_bootstrap_servers, s.stripe_api_base) == ("k:1", "http://s:2")


def test_a_refused_configuration_does_not_print_the_secrets_it_was_given(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A production deployment that set its live Stripe key but forgot the webhook secret
    # crashes at startup; the crash output (the process log) must not carry the key.
    monkeypatch.delenv("TRADEFLOW_ENVIRONMENT", raising=False)
    monkeypatch.setenv("TRADEFLOW_STRIPE_API_KEY", "sk_live_51Secret0123456789")
    with pytest.raises(ValidationError, match="STRIPE_WEBHOOK_SECRET") as refused:
        Settings()
    assert "sk_live_51Secret0123456789" not in str(refused.value)
    assert "sk_live_51Secret0123456789" not in repr(refused.value)


def test_the_identity_database_sits_beside_the_services() -> None:
    s = Settings(environment="test", database_url="postgresql+asyncpg://u:p@db:5432/postgres")
    assert s.identity_database_url == "postgresql+asyncpg://u:p@db:5432/tradeflow_identity"
