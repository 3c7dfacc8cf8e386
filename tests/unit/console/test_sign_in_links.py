"""Sign-in links: signed, short-lived, single-use, and holding no key."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.console.adapters.sign_in_links import SignInLinks, TooManyLinks
from services.console.domain.sign_in_links import (
    InvalidLink,
    LinkRefused,
    link_key,
    mint,
    verify,
)

NOW = datetime(2026, 12, 3, 13, 0, tzinfo=UTC)
KEY = link_key("secret")
API_KEY = "tf_live_abcdefghijklmnopqrstuvwxyz0123456789"


def reason(call: object) -> LinkRefused:
    with pytest.raises(InvalidLink) as exc:
        call()  # type: ignore[operator]
    return exc.value.reason


def test_a_token_verifies_until_its_end_and_not_after() -> None:
    link = mint(KEY, NOW + timedelta(minutes=30))
    assert verify(KEY, link.token, NOW + timedelta(minutes=29)).link_id == link.link_id
    assert reason(lambda: verify(KEY, link.token, NOW + timedelta(minutes=30))) == (
        LinkRefused.EXPIRED
    )


def test_a_changed_token_or_another_secret_is_malformed() -> None:
    link = mint(KEY, NOW + timedelta(minutes=30))
    payload, signature = link.token.split(".")
    # A later end, signed with the old signature: refused, not extended.
    later = mint(KEY, NOW + timedelta(days=1), bytes.fromhex(link.link_id)).token.split(".")[0]
    for bad in (f"{later}.{signature}", link.token + "x", payload, "", "a.b.c", "!!.??"):
        assert reason(lambda bad=bad: verify(KEY, bad, NOW)) == LinkRefused.MALFORMED
    assert reason(lambda: verify(link_key("other"), link.token, NOW)) == LinkRefused.MALFORMED


async def test_a_link_holds_no_key_and_gives_it_once() -> None:
    links = SignInLinks(KEY)
    link = await links.make(API_KEY, NOW + timedelta(minutes=30), NOW)
    assert API_KEY not in link.token and "tf_" not in link.token
    assert (await links.peek(link.token, NOW))[0].link_id == link.link_id  # peeking takes nothing
    assert await links.take(link.token, NOW) == API_KEY
    with pytest.raises(InvalidLink) as used:
        await links.take(link.token, NOW)
    assert used.value.reason == LinkRefused.USED
    with pytest.raises(InvalidLink) as peeked:
        await links.peek(link.token, NOW)
    assert peeked.value.reason == LinkRefused.USED


async def test_an_ended_link_is_expired_even_while_held() -> None:
    links = SignInLinks(KEY)
    link = await links.make(API_KEY, NOW + timedelta(minutes=1), NOW)
    with pytest.raises(InvalidLink) as exc:
        await links.take(link.token, NOW + timedelta(minutes=1))
    assert exc.value.reason == LinkRefused.EXPIRED


async def test_pending_links_are_bounded_and_ended_ones_forgotten() -> None:
    links = SignInLinks(KEY, max_pending=2)
    for _ in range(2):
        await links.make(API_KEY, NOW + timedelta(minutes=1), NOW)
    with pytest.raises(TooManyLinks):
        await links.make(API_KEY, NOW + timedelta(minutes=1), NOW)
    # Once those have ended, they make room.
    later = NOW + timedelta(minutes=2)
    await links.make(API_KEY, later + timedelta(minutes=1), later)
