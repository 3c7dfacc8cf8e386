"""The main job: a full cross-border trade across the three services running as processes,
and not one secret in any line those twelve processes logged while doing it."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from rich.console import Console

from services.demo.support import create_keys, stripe_signed
from services.demo.trade import run_trade
from shared.settings import Settings

# What a secret looks like, whoever's it is: an API key, a webhook signing secret, a Stripe
# key, an Authorization header's value. Redacted forms ("Bearer [REDACTED]") do not match.
SECRET_SHAPES = re.compile(
    r"tf_[A-Za-z0-9_-]{20,}|whsec_[A-Za-z0-9]|[sr]k_(?:test|live)_[A-Za-z0-9]|Bearer\s+[A-Za-z0-9]",
    re.IGNORECASE,
)


@dataclass
class FinishedTrade:
    ok: bool
    output: str
    secrets: list[str]  # every API key the processes saw, and the Stripe secrets


async def _keys_and_refusals(settings: Settings, keys: dict[str, dict[str, str]]) -> list[str]:
    """Issue, rotate and revoke keys over the processes' APIs, and send what gets refused
    (revoked, rotated-out and forged keys, a key in a query string, forged webhooks)."""
    base = f"http://{settings.host}"
    port = {s: settings.service_port(s) for s in ("escrow", "ledger", "financing")}
    platform = keys["platform"]
    async with httpx.AsyncClient(timeout=30) as http:

        async def post(service: str, path: str, body: object = None) -> httpx.Response:
            headers = platform | {"Idempotency-Key": str(uuid.uuid4())}
            return await http.post(f"{base}:{port[service]}{path}", json=body, headers=headers)

        r = await post("escrow", "/v1/api-keys", {"name": "e2e", "scopes": ["platform"]})
        assert r.status_code == 201, r.text
        first = r.json()
        r = await post("ledger", f"/v1/api-keys/{first['key_id']}/rotate", {"overlap_seconds": 0})
        assert r.status_code == 201, r.text
        second = r.json()["api_key"]
        r = await post("financing", f"/v1/api-keys/{second['key_id']}/revoke")
        assert r.status_code == 200, r.text
        forged = f"tf_{uuid.uuid4().hex}"
        for raw in (first["key"], second["key"], forged):
            for service in port:
                r = await http.get(
                    f"{base}:{port[service]}/v1/api-keys",
                    headers={"Authorization": f"Bearer {raw}"},
                )
                assert r.status_code == 401
        misplaced = await http.get(f"{base}:{port['escrow']}/v1/orders?api_key={first['key']}")
        assert misplaced.status_code == 401
        event = {"id": f"evt_{uuid.uuid4().hex}", "type": "payment_intent.succeeded"}
        body, headers = stripe_signed(event, "whsec_not_the_secret")
        for sent in (headers, {"Content-Type": "application/json"}):
            r = await http.post(
                f"{base}:{port['escrow']}/v1/webhooks/stripe", content=body, headers=sent
            )
            assert r.status_code == 400
    return [first["key"], second["key"], forged]


@pytest.fixture(scope="module")
async def trade(running_services: Settings) -> FinishedTrade:
    settings = running_services
    keys = await create_keys(settings, f"e2e-{uuid.uuid4().hex[:8]}")
    console = Console(record=True, width=120)
    ok = await run_trade(settings, console, keys)
    secrets = [h["Authorization"].removeprefix("Bearer ") for h in keys.values()]
    secrets += await _keys_and_refusals(settings, keys)
    secrets += [
        settings.stripe_webhook_secret.get_secret_value(),
        settings.stripe_api_key.get_secret_value(),
    ]
    return FinishedTrade(ok, console.export_text(), secrets)


async def test_a_full_trade_with_an_advance_balances_the_ledger(trade: FinishedTrade) -> None:
    assert trade.ok, trade.output
    assert "disbursed 26,236.87" in trade.output or "disbursed 26236.87" in trade.output
    assert "Ledger balanced to the cent." in trade.output
    # the closing account's reconciliation of the trade's Stripe report, and its balance sheet
    assert "Stripe clearing equals the Stripe balance" in trade.output, trade.output
    assert "0 break(s)" in trade.output and "difference 0.00" in trade.output


async def test_the_console_process_shows_the_trades_books_to_its_finance_key(
    trade: FinishedTrade, running_services: Settings
) -> None:
    """The demo prints the console's address and a key per role; the console process signs
    the finance key in and shows the trade's trial balance, read from the ledger process."""
    assert trade.ok, trade.output
    url = running_services.api_url("console")
    assert url in trade.output
    finance = trade.secrets[1]  # create_keys: platform, finance, supplier
    async with httpx.AsyncClient(base_url=url, timeout=30) as console:
        page = await console.get("/sign-in")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert token, page.text
        # TRADEFLOW_ENVIRONMENT=test: the cookie is Secure, so httpx keeps it for https only;
        # it is carried by hand here, as a browser on localhost would.
        anonymous = page.headers["set-cookie"].split(";")[0]
        signed = await console.post(
            "/sign-in",
            data={"api_key": finance, "csrf_token": token.group(1)},
            headers={"Cookie": anonymous},
        )
        assert signed.status_code == 303, signed.text
        cookie = signed.headers["set-cookie"].split(";")[0]  # tradeflow_console="..."
        tb = await console.get("/finance/trial-balance", headers={"Cookie": cookie})
        assert tb.status_code == 200, tb.text
        assert "USD" in tb.text and "balanced" in tb.text
        assert "Platform fee revenue" in tb.text


async def test_the_demos_printed_sign_in_links_open_each_roles_view_once(
    trade: FinishedTrade, running_services: Settings
) -> None:
    """Issue 13's done-when: the demo prints one ready sign-in link per role (finance,
    operations, supplier), no API key; each opens its role's view, once."""
    assert trade.ok, trade.output
    url = running_services.api_url("console")
    links = re.findall(r"(http\S+/sign-in/link\?token=[A-Za-z0-9_.-]+)", trade.output)
    assert len(links) == 3, trade.output
    demo_keys = trade.secrets[:3]  # create_keys: platform, finance, supplier
    assert not any(key in trade.output for key in demo_keys)
    homes = ["/finance/trial-balance", "/orders", "/supplier"]
    async with httpx.AsyncClient(timeout=30) as http:
        for link, home in zip(links, homes, strict=True):
            assert link.startswith(url), link
            page = await http.get(link)
            assert page.status_code == 200, page.text
            token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
            assert token, page.text
            anonymous = page.headers["set-cookie"].split(";")[0]  # carried by hand, as above
            form = {"token": link.split("token=", 1)[1], "csrf_token": token.group(1)}
            used = await http.post(f"{url}/sign-in/link", data=form,
                                   headers={"Cookie": anonymous})  # fmt: skip
            assert used.status_code == 303 and used.headers["location"] == home, used.text
            cookie = used.headers["set-cookie"].split(";")[0]
            view = await http.get(f"{url}{home}", headers={"Cookie": cookie})
            assert view.status_code == 200, view.text
            again = await http.post(f"{url}/sign-in/link", data=form,
                                    headers={"Cookie": anonymous})  # fmt: skip
            assert again.status_code == 410


def log_lines(logs: Path) -> list[tuple[str, str]]:
    """(file, line) for every line every process wrote."""
    return [
        (log.name, line)
        for log in sorted(logs.glob("*.log"))
        for line in log.read_text(errors="replace").splitlines()
    ]


async def test_no_secret_appears_in_any_log_line(trade: FinishedTrade, service_logs: Path) -> None:
    assert trade.ok, trade.output
    lines = log_lines(service_logs)
    # The capture is real: every process wrote, and the access log has the requests.
    assert {name for name, _ in lines} >= {f"{s}-api.log" for s in ("escrow", "ledger")}
    assert any("POST /v1/orders" in line for _, line in lines)
    assert any("/v1/api-keys" in line and "401" in line for _, line in lines)
    leaks = [
        (name, line)
        for name, line in lines
        if any(secret in line for secret in trade.secrets) or SECRET_SHAPES.search(line)
    ]
    assert not leaks, "\n".join(f"{name}: {line}" for name, line in leaks[:20])
