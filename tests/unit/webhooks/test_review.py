"""Defects a second review found in the webhooks' pure rules and the HTTP sender."""

from __future__ import annotations

import base64
import ipaddress

import pytest

from services.webhooks.adapters.sender import HttpSender
from services.webhooks.domain.errors import UrlNotAllowed
from services.webhooks.domain.signing import new_secret
from services.webhooks.domain.ssrf import address_refusal, check_url
from shared.redaction import redact
from tests.unit.webhooks.fakes import FakeResolver


@pytest.mark.parametrize(
    "address",
    [
        "2002:7f00:1::",  # 6to4 of 127.0.0.1
        "2002:a00:5::1",  # 6to4 of 10.0.0.5
        "2002:a9fe:a9fe::",  # 6to4 of 169.254.169.254
    ],
)
def test_6to4_addresses_are_judged_by_the_ipv4_address_they_embed(address: str) -> None:
    assert address_refusal(ipaddress.ip_address(address)) is not None
    assert address_refusal(ipaddress.ip_address("2002:808:808::")) is None  # 8.8.8.8


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.example.com/in\r\nX-Injected: 1",  # urlsplit drops CR LF silently
        "https://hooks.example.com/in\x01",
        "https://hooks.example.com/in\x00",
        "https://hooks.example.com/in\x7f",
        "https://hooks.example.com:0/in",  # port 0 is no port (it was read as 443)
    ],
)
def test_urls_with_control_characters_or_port_zero_are_refused(url: str) -> None:
    with pytest.raises(UrlNotAllowed):
        check_url(url)


async def test_the_sender_answers_an_unsendable_url_with_an_error_not_an_exception() -> None:
    """An exception out of ``post`` is never recorded: the lease runs out and the same
    delivery is claimed again for ever, neither failing nor counting towards disabling."""
    sender = HttpSender(FakeResolver(), allow_loopback=False)
    try:
        sent = await sender.post("https://hooks.example.com/in\x01", b"{}", {})
    finally:
        await sender.close()
    assert sent.status_code is None and sent.error


def test_a_webhook_secret_is_redacted_whole_from_logs() -> None:
    """Its base64 has '+', '/' and '=': the log redaction stopped at the first of them and
    printed the rest of the secret (e.g. in an SQL error's parameters)."""
    secret = "whsec_" + base64.b64encode(bytes(range(200, 232))).decode()
    assert "+" in secret or "/" in secret
    line = redact(f"[parameters: ('we_1', '{secret}', 'https://x.example.com/')]")
    assert secret.removeprefix("whsec_")[-8:] not in line
    assert line == "[parameters: ('we_1', '[REDACTED]', 'https://x.example.com/')]"
    for _ in range(50):
        assert redact(new_secret()) == "[REDACTED]"
