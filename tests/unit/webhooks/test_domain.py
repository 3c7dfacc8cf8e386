"""The webhooks domain: wildcards, the retry schedule, the SSRF rules, signatures, disabling."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from services.webhooks.domain import signing
from services.webhooks.domain.backoff import DEFAULT_DELAYS, RetrySchedule
from services.webhooks.domain.errors import InvalidEventPattern, UrlNotAllowed
from services.webhooks.domain.model import DisablePolicy, Endpoint, after_attempt, rotate_secret
from services.webhooks.domain.patterns import checked_patterns, matches
from services.webhooks.domain.ssrf import address_refusal, check_url

NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
CATALOGUE = {"escrow.funded", "escrow.milestone_released", "ledger.chain_checkpoint"}


@pytest.mark.parametrize(
    ("patterns", "event_type", "expected"),
    [
        (["*"], "escrow.funded", True),
        (["escrow.*"], "escrow.funded", True),
        (["escrow.*"], "escrowx.funded", False),
        (["escrow.*"], "ledger.chain_checkpoint", False),
        (["escrow.funded"], "escrow.funded", True),
        (["escrow.funded"], "escrow.funded_partially", False),
        (["ledger.*", "escrow.funded"], "escrow.funded", True),
        ([], "escrow.funded", False),
    ],
)
def test_wildcards(patterns: list[str], event_type: str, expected: bool) -> None:
    assert matches(patterns, event_type) is expected


def test_patterns_are_checked_against_the_catalogue() -> None:
    assert checked_patterns(["escrow.*", "escrow.*", "ledger.chain_checkpoint"], CATALOGUE) == [
        "escrow.*",
        "ledger.chain_checkpoint",
    ]
    for bad in (["escrow.fundd"], ["nope.*"], ["escrow*"], ["**"], []):
        with pytest.raises(InvalidEventPattern):
            checked_patterns(bad, CATALOGUE)


def test_the_default_schedule_spans_about_three_days() -> None:
    schedule = RetrySchedule()
    assert schedule.delays == DEFAULT_DELAYS and schedule.max_attempts == 12
    assert timedelta(days=2.5) < schedule.total < timedelta(days=3.5)
    assert list(schedule.delays) == sorted(schedule.delays)  # it backs off, never speeds up


def test_jitter_spreads_each_wait_within_its_fraction() -> None:
    schedule = RetrySchedule((100, 1_000), jitter=0.2)
    assert schedule.wait_after(1, lambda: 0.0) == timedelta(seconds=80)
    assert schedule.wait_after(1, lambda: 0.5) == timedelta(seconds=100)
    assert schedule.wait_after(2, lambda: 0.999999) < timedelta(seconds=1_200)
    assert schedule.wait_after(3, lambda: 0.5) is None  # spent
    assert schedule.wait_after(0, lambda: 0.5) is None
    with pytest.raises(ValueError):
        RetrySchedule((-1,))


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("8.8.8.8", None),
        ("2606:4700:4700::1111", None),
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.0.1", "private"),
        ("100.64.0.1", "private"),
        ("fc00::1", "private"),
        ("169.254.169.254", "metadata"),
        ("fd00:ec2::254", "metadata"),
        ("169.254.1.1", "link-local"),
        ("fe80::1", "link-local"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("240.0.0.1", "reserved"),
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:10.0.0.1", "private"),
    ],
)
def test_addresses(address: str, reason: str | None) -> None:
    found = address_refusal(ipaddress.ip_address(address))
    assert (found is None) if reason is None else (found is not None and reason in found)


def test_loopback_only_where_allowed() -> None:
    loopback = ipaddress.ip_address("127.0.0.1")
    assert address_refusal(loopback, allow_loopback=True) is None
    assert address_refusal(ipaddress.ip_address("10.0.0.1"), allow_loopback=True) is not None
    assert check_url("http://127.0.0.1:9000/hook", allow_loopback=True).port == 9000
    assert check_url("http://localhost/hook", allow_loopback=True).host == "localhost"
    for url in ("http://127.0.0.1:9000/hook", "https://localhost/hook", "https://127.0.0.1/"):
        with pytest.raises(UrlNotAllowed):
            check_url(url)


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com/hook",  # https only
        "ftp://example.com/",
        "https://user:pw@example.com/",
        "https://example.com/#frag",
        "https:///nohost",
        "https://intranet/hook",  # not a fully qualified name
        "https://169.254.169.254/",
        "https://[::1]/",
        "https://2130706433/",  # 127.0.0.1 as one number
        "https://0x7f.0.0.1/",
        "https://0177.0.0.1/",
        "https://127.1/",
        "https://10.0.0.1./",
        "https://api.localhost/",
        "https://example.com:99999/",
        "https://example.com/" + "a" * 3_000,
    ],
)
def test_urls_refused(url: str) -> None:
    with pytest.raises(UrlNotAllowed):
        check_url(url)


def test_urls_allowed() -> None:
    t = check_url("https://Hooks.Example.com/tradeflow?x=1")
    assert (t.scheme, t.host, t.port) == ("https", "hooks.example.com", 443)
    assert check_url("https://8.8.8.8:8443/").port == 8443
    # http is for loopback only, even where loopback is allowed
    with pytest.raises(UrlNotAllowed):
        check_url("http://example.com/", allow_loopback=True)


def test_signatures_verify_with_the_standardwebhooks_library() -> None:
    secret = signing.new_secret()
    assert secret.startswith("whsec_")
    body = '{"type":"escrow.funded"}'
    now = datetime.now(UTC)
    headers = signing.headers([secret], "evt_1", now, body)
    assert headers["webhook-timestamp"] == str(int(now.timestamp()))
    assert Webhook(secret).verify(body, headers) == {"type": "escrow.funded"}
    with pytest.raises(WebhookVerificationError):
        Webhook(signing.new_secret()).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body + " ", headers)


def test_a_rotation_signs_with_both_secrets_until_the_overlap_ends() -> None:
    e = Endpoint("we_1", "t", "https://example.com/", ("*",), signing.new_secret())
    rotated = rotate_secret(e, signing.new_secret(), NOW, timedelta(hours=24))
    assert rotated.secrets_at(NOW + timedelta(hours=23)) == [rotated.secret, e.secret]
    assert rotated.secrets_at(NOW + timedelta(hours=24)) == [rotated.secret]
    now = datetime.now(UTC)
    headers = signing.headers(rotated.secrets_at(NOW), "m", now, "{}")
    for secret in (e.secret, rotated.secret):
        Webhook(secret).verify("{}", headers)
    at_once = rotate_secret(e, signing.new_secret(), NOW, timedelta(0))
    assert at_once.secrets_at(NOW) == [at_once.secret] and at_once.previous_secret is None


def test_an_endpoint_is_disabled_after_failing_long_enough() -> None:
    policy = DisablePolicy(failures=3, after=timedelta(hours=1))
    e = Endpoint("we_1", "t", "https://example.com/", ("*",), "whsec_x")
    for minute in range(3):
        e, disabled = after_attempt(e, False, NOW + timedelta(minutes=minute), policy)
        assert not disabled  # three failures, but within minutes: a blip, not a dead endpoint
    e, disabled = after_attempt(e, False, NOW + timedelta(hours=1), policy)
    assert disabled and not e.enabled and e.consecutive_failures == 4
    assert e.disabled_reason is not None and "4 consecutive" in e.disabled_reason
    _, again = after_attempt(e, False, NOW + timedelta(hours=2), policy)
    assert not again  # disabled once, noticed once


def test_a_success_resets_the_count() -> None:
    policy = DisablePolicy(failures=2, after=timedelta(0))
    e = Endpoint("we_1", "t", "https://example.com/", ("*",), "whsec_x")
    e, _ = after_attempt(e, False, NOW, policy)
    e, _ = after_attempt(e, True, NOW, policy)
    assert e.consecutive_failures == 0 and e.failing_since is None
    e, disabled = after_attempt(e, False, NOW, policy)
    assert not disabled and e.enabled
