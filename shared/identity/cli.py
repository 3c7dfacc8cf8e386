"""``tradeflow apikey create|list|revoke|rotate``: the operator's side of the identity keys.

The operator may issue any scope (there is no caller to escalate from); the other rules of
``rules.py`` hold. Changes are recorded with the actor ``cli:<os user>``. A new key is the
only thing printed on stdout, so scripts can capture it; the rest goes to stderr.
"""

from __future__ import annotations

import asyncio
import getpass
from collections.abc import Awaitable, Callable
from typing import TypeVar

import typer
from rich.console import Console
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.identity import keys
from shared.identity.rules import IdentityError, check_new_key, parse_overlap
from shared.settings import Settings

app = typer.Typer(no_args_is_help=True, help="API keys, valid on every service.")
err = Console(stderr=True)
T = TypeVar("T")


def actor() -> str:
    return f"cli:{getpass.getuser()}"


def _run(work: Callable[[AsyncConnection], Awaitable[T]]) -> T:
    """Run ``work`` in one identity transaction; a refusal is a clean CLI error."""
    from shared.runtime import identity_engine

    async def go() -> T:
        engine = identity_engine(Settings())
        try:
            async with engine.begin() as conn:
                return await work(conn)
        finally:
            await engine.dispose()

    try:
        return asyncio.run(go())
    except IdentityError as exc:
        err.print(f"[red]{exc.code}:[/] {exc.message}")
        raise typer.Exit(1) from None


def _announce(key: keys.ApiKey, what: str) -> None:
    party = f", party {key.party_id}" if key.party_id else ""
    err.print(
        f"{what} {key.key_id} ({key.tenant_id}: {', '.join(key.scopes)}{party}; {key.name}); "
        "the key is shown once, above"
    )


@app.command("create")
def create(
    tenant: str = typer.Option(..., help="Tenant (integrating platform) id"),
    scope: list[str] = typer.Option(..., help="platform, finance or supplier; repeatable"),
    name: str = typer.Option(..., help="A label recorded as the actor of changes"),
    party: str | None = typer.Option(
        None, help="The supplier id a supplier key acts for (required with --scope supplier)"
    ),
    key: str | None = typer.Option(None, help="Use this key (tf_...) instead of a random one"),
) -> None:
    """Issue a key; it is printed once."""
    try:
        scopes = check_new_key(scope, name, party)
    except IdentityError as exc:
        flag = "--party" if "party" in exc.code else "--scope/--name"
        raise typer.BadParameter(f"{exc.message} ({flag})") from None
    issued = _run(
        lambda conn: keys.create_api_key(
            conn, tenant, scopes, name, actor=actor(), party_id=party, raw=key
        )
    )
    typer.echo(issued.raw)
    _announce(issued.key, "issued")


@app.command("list")
def list_keys(tenant: str = typer.Option(..., help="Tenant whose keys to list")) -> None:
    """A tenant's keys, one a line: ids, hints and states, never the keys."""
    found = _run(lambda conn: keys.list_api_keys(conn, tenant))
    for k in found:
        parts = [
            k.key_id, f"{k.status:<8}", ",".join(k.scopes), f"party={k.party_id or '-'}",
            f"…{k.hint or '????'}", repr(k.name),
            f"created {k.created_at:%Y-%m-%d %H:%M} by {k.created_by}",
        ]  # fmt: skip
        if k.expires_at is not None:
            parts.append(f"expires {k.expires_at:%Y-%m-%d %H:%M}")
        if k.revoked_at is not None:
            parts.append(f"revoked {k.revoked_at:%Y-%m-%d %H:%M} by {k.revoked_by}")
        if k.last_used_at is not None:
            parts.append(f"used {k.last_used_at:%Y-%m-%d %H:%M}")
        typer.echo("  ".join(parts))
    if not found:
        typer.echo(f"no keys for {tenant}")


@app.command("revoke")
def revoke(key_id: str = typer.Argument(..., help="The key's id (key_...)")) -> None:
    """Refuse the key on every service from the next request on."""
    revoked = _run(lambda conn: keys.revoke_api_key(conn, key_id, actor=actor()))
    err.print(f"{revoked.key_id}: revoked at {revoked.revoked_at} by {revoked.revoked_by}")


@app.command("rotate")
def rotate(
    key_id: str = typer.Argument(..., help="The key's id (key_...)"),
    overlap: str = typer.Option(
        "24h", help="How long the old key keeps working: 0 (not at all), 90s, 15m, 24h, 7d"
    ),
) -> None:
    """Issue a successor (same tenant, scopes, party, name); the old key expires after the overlap."""
    try:
        window = parse_overlap(overlap)
    except IdentityError as exc:
        raise typer.BadParameter(exc.message) from None
    issued, old = _run(
        lambda conn: keys.rotate_api_key(conn, key_id, overlap=window, actor=actor())
    )
    typer.echo(issued.raw)
    _announce(issued.key, "issued")
    err.print(f"{old.key_id} stays valid until {old.expires_at}")
