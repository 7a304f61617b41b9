"""Entry point: ``slidepacs [--config FILE] COMMAND``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from slidepacs import __version__
from slidepacs.cli import (
    admin,
    ae,
    archive,
    convert,
    demo,
    events,
    forward,
    http,
    print_jobs,
    rules,
    scanners,
    serve,
    simulate,
    tls,
    users,
)
from slidepacs.cli.context import CliState

app = typer.Typer(
    name="slidepacs",
    help="slidepacs: an open, fast image archive for pathology and radiology.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command("serve")(serve.serve)
app.command("demo")(demo.demo)
app.command("import")(archive.import_command)
app.command("export")(archive.export_command)
app.command("stats")(archive.stats_command)
app.command("convert")(convert.convert_command)
app.add_typer(admin.config_app, name="config")
app.add_typer(admin.db_app, name="db")
app.add_typer(admin.storage_app, name="storage")
app.add_typer(ae.ae_app, name="ae")
app.add_typer(forward.forward_app, name="forward")
app.add_typer(rules.rules_app, name="rules")
app.add_typer(rules.quarantine_app, name="quarantine")
app.add_typer(tls.tls_app, name="tls")
app.add_typer(http.http_app, name="http")
app.add_typer(users.user_app, name="user")
app.add_typer(print_jobs.print_app, name="print")
app.add_typer(scanners.scanner_app, name="scanner")
app.add_typer(events.events_app, name="events")
app.command("audit")(users.audit_command)
scanners.scanner_app.command("simulate")(simulate.simulate)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"slidepacs {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    ctx: typer.Context,
    config: Annotated[
        Optional[Path],
        typer.Option("--config", "-c", help="TOML configuration file (else $SLIDEPACS_CONFIG, "
                     "else ./slidepacs.toml, else built-in defaults)."),
    ] = None,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print version.")
    ] = False,
) -> None:
    """slidepacs command line."""
    ctx.obj = CliState(config)


def main() -> None:
    """Console-script entry point."""
    app()
