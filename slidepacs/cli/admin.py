"""``slidepacs config``, ``db`` and ``storage`` command groups."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer

from slidepacs.cli.context import app_context, console, reported_errors, state_of

if TYPE_CHECKING:
    from slidepacs.services.storage_check import VerifyReport

# The configuration, index and bootstrap modules (pydantic, SQLAlchemy, pydicom, …) are
# imported inside the commands that use them, so that the CLI starts quickly.

config_app = typer.Typer(help="Show the effective configuration.", no_args_is_help=True)
db_app = typer.Typer(help="Index database schema.", no_args_is_help=True)
storage_app = typer.Typer(help="Storage locations.", no_args_is_help=True)


@config_app.command("show")
def config_show(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of TOML.")] = False,
) -> None:
    """Print the effective configuration (file + environment + defaults), secrets masked."""
    from slidepacs.config import masked

    settings = state_of(ctx).settings()
    data = masked(settings)
    if as_json:
        console.print_json(json.dumps(data))
        return
    for section, values in data.items():
        tables = values if isinstance(values, list) else [values]
        header = f"[[{section}]]" if isinstance(values, list) else f"[{section}]"
        for table in tables:
            console.print(header, style="bold", highlight=False, markup=False)
            for key, value in table.items():
                console.print(f"{key} = {_toml_value(value)}", highlight=False, markup=False)
            console.print()


def _toml_value(value: object) -> str:
    """A value in TOML syntax (JSON's, except tables are written inline)."""
    if isinstance(value, dict):
        items = ", ".join(f"{key} = {_toml_value(item)}" for key, item in value.items())
        return f"{{ {items} }}" if items else "{}"
    return json.dumps(value, ensure_ascii=False)


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context) -> None:
    """Migrate the index schema to this version (creating it if empty)."""
    from slidepacs.bootstrap import check_locations, connect_index
    from slidepacs.index.database import upgrade

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
    from slidepacs.bootstrap import connect_index
    from slidepacs.index.database import current_revision, head_revision

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
    repair: Annotated[bool, typer.Option("--repair", help="Restore bad copies from a good one "
                                         "and remove interrupted temporary files.")] = False,
) -> None:
    """Check every indexed file in every storage location against its checksum.

    Prints one line per bad copy (location, file, problem); exits 1 while any remains bad.
    """
    with app_context(state_of(ctx)) as app:
        with console.status("Verifying stored files…"):
            report = app.storage_check.verify(repair=repair)
        locations = len(app.store.locations)
    console.print(f"Checked {report.files:,} files ({report.bytes / 1e6:,.1f} MB) in "
                  f"{locations} location(s).")
    for line in _problem_lines(report):
        console.print(line, markup=False, highlight=False, soft_wrap=True)
    if report.temporary_removed:
        console.print(f"Removed {report.temporary_removed} interrupted temporary file(s).")
    if report.clean and (repair or not report.problems):
        console.print("[green]Storage is consistent with the index.[/green]")
        return
    remaining = len(report.problems) - len(report.repaired)
    repairable = len(report.problems) - len(report.unrepairable)
    hint = "" if repair or not repairable else "; run `slidepacs storage verify --repair`"
    noun = "bad copy remains" if remaining == 1 else "bad copies remain"
    console.print(f"[red]{remaining} {noun}{hint}[/red]")
    raise typer.Exit(1)


def _problem_lines(report: VerifyReport) -> list[str]:
    """``location: file: problem`` for each bad copy, with what repair did or could do."""
    repaired = {(p.location, p.relpath) for p in report.repaired}
    unrepairable = {(p.location, p.relpath): p.problem for p in report.unrepairable}
    lines = []
    for problem in report.problems:
        key = (problem.location, problem.relpath)
        if key in unrepairable:
            text = f"{unrepairable[key]} - UNREPAIRABLE"
        else:
            text = problem.problem + (" - repaired" if key in repaired else "")
        lines.append(f"{problem.location}: {problem.relpath}: {text}")
    return lines
