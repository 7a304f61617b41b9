"""``slidepacs events``: the scanner events stored in the index (errors and worse)."""

from __future__ import annotations

import sys
from contextlib import nullcontext
from pathlib import Path
from typing import Annotated, Optional, TextIO

import typer
from rich.markup import escape
from rich.table import Table

from slidepacs.cli.context import app_context, console, reported_errors, state_of

events_app = typer.Typer(help="Scanner events (errors and worse) from the event receiver.",
                         no_args_is_help=True)
SEVERITY_STYLES = {"emergency": "bold red", "alert": "bold red", "critical": "red",
                   "error": "yellow"}


@events_app.command("list")
def events_list(
    ctx: typer.Context,
    scanner: Annotated[str, typer.Option(help="Only this scanner (exact name).")] = "",
    severity: Annotated[str, typer.Option(
        help="This severity or worse (emergency, alert, critical, error, … or 0–7).")] = "",
    since: Annotated[str, typer.Option(
        help="Received at or after (ISO 8601 date or time, UTC unless an offset).")] = "",
    until: Annotated[str, typer.Option(
        help="Received before (a bare date includes that day).")] = "",
    limit: Annotated[int, typer.Option(min=1, max=1_000_000, help="Newest events shown.")] = 50,
    csv: Annotated[Optional[Path], typer.Option(
        "--csv", help="Write CSV to this file ('-': standard output) instead of a table.")] = None,
) -> None:
    """List stored scanner events, newest first, or export them as CSV."""
    from slidepacs.domain.scanner_events import event_filter

    with reported_errors():
        wanted = event_filter(scanner, severity, since, until, limit, 0)
    with app_context(state_of(ctx)) as app:
        if csv is not None:
            to_stdout = str(csv) == "-"
            with nullcontext(sys.stdout) if to_stdout else _open(csv) as out:
                for line in app.scanner_events.export_csv(wanted):
                    out.write(line)
            if not to_stdout:
                console.print(f"Wrote {csv}.", highlight=False)
            return
        found, total = app.scanner_events.find(wanted)
    table = Table(title=f"Scanner events ({len(found)} of {total})")
    for column in ("received (UTC)", "scanner", "severity", "code", "message", "from"):
        table.add_column(column)
    for event in found:
        label = event.severity.label
        table.add_row(event.received_at.strftime("%Y-%m-%d %H:%M:%S"), escape(event.scanner),
                      f"[{SEVERITY_STYLES.get(label, '')}]{label}[/]" if label in
                      SEVERITY_STYLES else label, escape(event.code), escape(event.message),
                      escape(event.address))
    console.print(table)


def _open(path: Path) -> TextIO:
    from slidepacs.errors import StorageFailure

    try:
        return path.open("w", encoding="utf-8", newline="")
    except OSError as exc:
        raise StorageFailure(f"cannot write {path} ({exc.strerror})") from None
