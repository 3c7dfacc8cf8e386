"""Sessions: made from the key's own description, ended by time, guarded by CSRF tokens,
carried in a cookie nobody else can read or change."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.console.adapters.cookies import SessionCodec
from services.console.domain.session import (
    Session,
    SignInRefused,
    csrf_valid,
    sign_in,
    signed_out,
)

NOW = datetime(2026, 12, 3, 13, 0, tzinfo=UTC)
HOURS_8 = timedelta(hours=8)


def key(scopes: list[str], party: str | None = None, expires: str | None = None) -> dict:
    return {"tenant_id": "acme", "name": "k", "scopes": scopes, "party_id": party,
            "expires_at": expires}  # fmt: skip


def test_roles_follow_the_scopes_of_the_key() -> None:
    assert sign_in("tf_x", key(["finance"]), NOW, HOURS_8).roles == ("finance", "operations")
    assert sign_in("tf_x", key(["platform"]), NOW, HOURS_8).roles == ("operations",)
    supplier = sign_in("tf_x", key(["supplier"], "s-1"), NOW, HOURS_8)
    assert supplier.roles == ("supplier",)
    assert supplier.party_id == "s-1"


def test_a_supplier_key_bound_to_no_supplier_is_refused() -> None:
    with pytest.raises(SignInRefused):
        sign_in("tf_x", key(["supplier"]), NOW, HOURS_8)


def test_a_session_ends_after_its_lifetime_or_with_its_key() -> None:
    s = sign_in("tf_x", key(["finance"]), NOW, HOURS_8)
    assert not s.expired(NOW + HOURS_8 - timedelta(seconds=1))
    assert s.expired(NOW + HOURS_8)
    short = sign_in("tf_x", key(["finance"], expires="2026-12-03T14:00:00Z"), NOW, HOURS_8)
    assert short.expires_at == datetime(2026, 12, 3, 14, 0, tzinfo=UTC)


def test_signing_in_and_out_changes_the_csrf_token() -> None:
    anonymous = Session()
    s = sign_in("tf_x", key(["finance"]), NOW, HOURS_8)
    assert s.csrf != anonymous.csrf
    out = signed_out(s)
    assert not out.signed_in and out.csrf != s.csrf


def test_csrf_token_must_be_the_sessions() -> None:
    s = Session()
    assert csrf_valid(s, s.csrf)
    assert not csrf_valid(s, None)
    assert not csrf_valid(s, "")
    assert not csrf_valid(s, Session().csrf)


def test_the_cookie_round_trips_and_hides_the_key() -> None:
    codec = SessionCodec("secret", 3600)
    s = sign_in("tf_secretkey", key(["supplier"], "s-1"), NOW, HOURS_8)
    cookie = codec.encode(s)
    assert "tf_secretkey" not in cookie and "s-1" not in cookie
    assert codec.decode(cookie) == s


def test_a_changed_forged_or_old_cookie_is_no_session() -> None:
    codec = SessionCodec("secret", 3600)
    cookie = codec.encode(Session())
    flipped = cookie[:-5] + ("A" if cookie[-5] != "A" else "B") + cookie[-4:]
    assert codec.decode(flipped) is None
    assert SessionCodec("another secret", 3600).decode(cookie) is None
    assert codec.decode("not a cookie") is None
    assert codec.decode(None) is None
    assert SessionCodec("secret", 1).decode(cookie) is not None  # within its lifetime


def test_production_refuses_the_development_secret() -> None:
    from services.console.bootstrap import ConsoleMisconfigured, bootstrap
    from shared.settings import Settings

    with pytest.raises(ConsoleMisconfigured):
        bootstrap(Settings(environment="production", stripe_api_key="sk_live_x",
                           stripe_webhook_secret="whsec_x"))  # fmt: skip
