"""Secrets never reach a log line: known shapes are redacted in structlog's and the standard
library's records (uvicorn's access log, aiokafka, stripe, httpx) alike."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from shared.redaction import REDACTED, redact, redact_secrets

API_KEY = "tf_Zx81kQ-pL0_oWn3vYtR5sUe7iAb9cDf2"
SECRETS = {
    "api key": API_KEY,
    "webhook secret": "whsec_tradeflow_dev",
    "stripe key": "sk_live_51HxYzAbCdEf0123",
    "restricted key": "rk_test_51HxYzAbCdEf0123",
}


@pytest.mark.parametrize("secret", SECRETS.values(), ids=SECRETS.keys())
def test_each_known_secret_shape_is_redacted_wherever_it_sits(secret: str) -> None:
    for text in (secret, f"key={secret}", f"GET /v1/orders?api_key={secret}&x=1", f"'{secret}'"):
        assert secret not in redact(text)
        assert REDACTED in redact(text)


def test_authorization_values_and_url_passwords_are_redacted() -> None:
    assert redact("Authorization: Bearer abc.def-123") == f"Authorization: Bearer {REDACTED}"
    assert (
        redact("authorization was 'Basic c2tfdGVzdDo='") == f"authorization was 'Basic {REDACTED}'"
    )
    url = "postgresql+asyncpg://tradeflow:s3cret@db:5432/tradeflow_escrow"
    assert redact(url) == f"postgresql+asyncpg://tradeflow:{REDACTED}@db:5432/tradeflow_escrow"


def test_a_sign_in_links_token_in_a_logged_url_is_redacted() -> None:
    """An unused console sign-in link is a credential for its lifetime: the access log line
    of ``GET /sign-in/link?token=…`` must not carry it."""
    token = "AAECAwQFBgcICQoLDA0ODwAAAABpMC6A.c2lnbmF0dXJlLW9mLTMyLWJ5dGVzLWxvbmctLS0tLS0"
    line = f'127.0.0.1:5000 - "GET /sign-in/link?token={token} HTTP/1.1" 200'
    assert redact(line) == f'127.0.0.1:5000 - "GET /sign-in/link?token={REDACTED} HTTP/1.1" 200'
    assert redact(f"/x?a=1&token={token}&b=2") == f"/x?a=1&token={REDACTED}&b=2"


def test_what_is_not_a_secret_is_left_alone() -> None:
    for text in (
        "GET /v1/orders/01a233fc-a6cd-725a HTTP/1.1",
        "tradeflow_test_1234_escrow",
        "key_3882d43a858d568ec2480454 hint …Ls64",
        "stripe_event=evt_123 idempotency key abc",
        "http://127.0.0.1:12111/v1/transfers",
    ):
        assert redact(text) == text


def test_the_processor_walks_nested_values_and_secret_named_fields() -> None:
    event = {
        "event": f"calling with {API_KEY}",
        "headers": {"authorization": "anything at all", "accept": "json"},
        "attempts": [f"Bearer {API_KEY}", 3],
        "webhook_secret": "plain",
        "count": 2,
    }
    out = redact_secrets(None, "info", event)
    assert API_KEY not in json.dumps(out)
    assert out["headers"] == {"authorization": REDACTED, "accept": "json"}
    assert out["webhook_secret"] == REDACTED and out["count"] == 2


def test_a_configured_process_redacts_structlog_and_standard_library_lines() -> None:
    program = textwrap.dedent(
        f"""
        import logging, structlog
        from shared.logging import configure_logging
        configure_logging("escrow", "INFO", json=True)
        structlog.get_logger("x").info("charged", stripe_key="sk_test_51Abc", note="{API_KEY}")
        logging.getLogger("uvicorn.access").info(
            '%s - "%s %s HTTP/%s" %d', "127.0.0.1:1", "GET", "/v1/orders?api_key={API_KEY}", "1.1", 401
        )
        try:
            raise ValueError("whsec_tradeflow_dev was wrong")
        except ValueError:
            logging.getLogger("stripe").exception("verify failed")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, check=True, timeout=60
    )
    lines = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
    assert [line["event"].split()[0] for line in lines][:1] == ["charged"]
    assert len(lines) == 3, done.stderr  # stdlib lines are JSON too, with the service
    assert {line["service"] for line in lines} == {"escrow"}
    for secret in (API_KEY, "sk_test_51Abc", "whsec_tradeflow_dev"):
        assert secret not in done.stderr and secret not in done.stdout
    assert "api_key=" + REDACTED in lines[1]["event"]
