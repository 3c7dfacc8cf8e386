"""``tradeflow console api``: serve the web console (it has no other role: no database,
no consumer, no relay, no timers)."""

from __future__ import annotations

import typer
import uvicorn

from shared.logging import configure_logging
from shared.settings import CONSOLE, Settings

app = typer.Typer(no_args_is_help=True, help="The web console (docs/console.md).")


@app.command("api")
def api(port: int | None = None, host: str | None = None) -> None:
    """Serve the console's pages (default 127.0.0.1:8005, TRADEFLOW_CONSOLE_PORT)."""
    from services.console.entrypoints.http.app import create_console_app

    s = Settings()
    configure_logging(CONSOLE, s.log_level, s.log_json)
    uvicorn.run(
        create_console_app(s),
        host=host or s.host,
        port=port or s.service_port(CONSOLE),
        log_config=None,
    )


@app.command("sign-in-link")
def sign_in_link(
    url: str | None = typer.Option(None, help="The console (default: TRADEFLOW_CONSOLE_PORT)"),
) -> None:
    """Print a short-lived, single-use sign-in link for an API key (read from
    TRADEFLOW_API_KEY, or asked for without echo). The key is not in the link."""
    import os

    import httpx

    s = Settings()
    base = (url or s.api_url(CONSOLE)).rstrip("/")
    key = os.environ.get("TRADEFLOW_API_KEY") or typer.prompt("API key", hide_input=True)
    r = httpx.post(f"{base}/sign-in-links", headers={"Authorization": f"Bearer {key}"}, timeout=10)
    if r.status_code != 201:
        typer.echo(f"refused ({r.status_code}): {r.text}", err=True)
        raise typer.Exit(1)
    found = r.json()
    typer.echo(f"{base}{found['path']}")
    typer.echo(
        f"{found['role']} of {found['tenant_id']}, once, until {found['expires_at']}", err=True
    )
