"""``slidepacs ae``: the registry of remote DICOM AEs ("DICOM users")."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from slidepacs.cli.context import app_context, console, state_of

ae_app = typer.Typer(help="Registered remote DICOM AEs.", no_args_is_help=True)


@ae_app.command("add")
def ae_add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="A name for the peer (e.g. 'reading-room-1').")],
    ae_title: Annotated[str, typer.Argument(help="Its AE title.")],
    host: Annotated[str, typer.Argument(help="Its IP address or host name.")],
    port: Annotated[int, typer.Argument(help="Its DICOM port.")],
) -> None:
    """Register a remote AE: it may then associate, and be a C-MOVE destination."""
    with app_context(state_of(ctx)) as app:
        ae = app.registry.add(name, ae_title, host, port)
    console.print(f"Registered {ae.name}: {ae.ae_title} at {ae.host}:{ae.port}.")


@ae_app.command("list")
def ae_list(ctx: typer.Context) -> None:
    """List registered AEs."""
    with app_context(state_of(ctx)) as app:
        aes = app.registry.list()
        policy = app.registry.accept_unregistered
    table = Table(title="Registered AEs")
    for column in ("name", "AE title", "host", "port", "registered"):
        table.add_column(column)
    for ae in aes:
        table.add_row(ae.name, ae.ae_title, ae.host, str(ae.port),
                      "automatically" if ae.auto_registered else "by admin")
    console.print(table)
    console.print("Unregistered AEs are " + ("accepted (and registered on first store)."
                                             if policy else "rejected."))


@ae_app.command("remove")
def ae_remove(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Name or AE title.")],
) -> None:
    """Unregister an AE."""
    with app_context(state_of(ctx)) as app:
        app.registry.remove(name)
    console.print(f"Removed {name}.")


@ae_app.command("echo")
def ae_echo(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Name or AE title.")],
) -> None:
    """Send a C-ECHO to a registered AE from the local AE title."""
    with app_context(state_of(ctx)) as app:
        remote, result = app.echo.echo(name)
    colour = "green" if result.ok else "red"
    console.print(f"[{colour}]{remote.ae_title} at {remote.host}:{remote.port}: {result.detail}"
                  f"[/{colour}] in {result.milliseconds:.0f} ms")
    if not result.ok:
        raise typer.Exit(1)
