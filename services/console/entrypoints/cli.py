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
