"""``slidepacs config``, ``db`` and ``storage`` command groups."""

from __future__ import annotations

import json

import typer
from rich.table import Table
from typing import Annotated

from slidepacs.bootstrap import check_locations, connect_index
from slidepacs.cli.context import app_context, console, reported_errors, state_of
from slidepacs.config import masked
from slidepacs.index.database import current_revision, head_revision, upgrade

config_app = typer.Typer(help="Show the effective configuration.", no_args_is_help=True)
db_app = typer.Typer(help="Index database schema.", no_args_is_help=True)
storage_app = typer.Typer(help="Storage locations.", no_args_is_help=True)


@config_app.command("show")
def config_show(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of TOML.")] = False,
) -> None:
    """Print the effective configuration (file + environment + defaults), secrets masked."""
    settings = state_of(ctx).settings()
    data = masked(settings)
    if as_json:
        console.print_json(json.dumps(data))
        return
    for section, values in data.items():
        console.print(f"[bold][{section}][/bold]", highlight=False)
        for key, value in values.items():
            console.print(f"{key} = {json.dumps(value, ensure_ascii=False)}", highlight=False,
                          markup=False)
        console.print()


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context) -> None:
    """Migrate the index schema to this version (creating it if empty)."""
    settings = state_of(ctx).settings()
    with reported_errors():
        check_locations(settings)
        engine = connect_index(settings)
        try:
            before, after = upgrade(engine)
        finally:
            engine.dispose()
    if before == after:
        console.print(f"Index already at revision {after}.")
    else:
        console.print(f"Index upgraded from {before or 'empty'} to {after}.")


@db_app.command("status")
def db_status(ctx: typer.Context) -> None:
    """Show the index schema revision and whether it needs migrating."""
    settings = state_of(ctx).settings()
    with reported_errors():
        engine = connect_index(settings)
        try:
            current = current_revision(engine)
        finally:
            engine.dispose()
    head = head_revision()
    state = "up to date" if current == head else "needs `slidepacs db upgrade`"
    console.print(f"Index revision {current or 'empty'}; this version needs {head}: {state}.")


@storage_app.command("verify")
def storage_verify(
    ctx: typer.Context,
    repair: Annotated[bool, typer.Option("--repair", help="Restore bad copies from a good one.")] = False,
) -> None:
    """Check every indexed file in every storage location against its checksum."""
    with app_context(state_of(ctx)) as app:
        with console.status("Verifying stored files…"):
            report = app.storage_check.verify(repair=repair)
    console.print(f"Checked {report.files:,} files ({report.bytes / 1e6:,.1f} MB) in "
                  f"{len(app.store.locations)} location(s).")
    if report.problems:
        table = Table(title="Problems")
        for column in ("location", "file", "problem", "repaired"):
            table.add_column(column, overflow="fold")
        repaired = {(p.location, p.relpath) for p in report.repaired}
        for problem in report.problems:
            fixed = "yes" if (problem.location, problem.relpath) in repaired else "no"
            table.add_row(str(problem.location), problem.relpath, problem.problem, fixed)
        console.print(table)
    if report.temporary_removed:
        console.print(f"Removed {report.temporary_removed} interrupted temporary files.")
    if report.clean and (not report.problems or repair):
        console.print("[green]Storage is consistent with the index.[/green]")
    if not report.clean or (report.problems and not repair):
        raise typer.Exit(1)
