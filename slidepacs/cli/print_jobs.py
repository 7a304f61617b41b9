"""``slidepacs print``: the print server's jobs (films printed to slidepacs)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from slidepacs.cli.context import app_context, console, state_of
from slidepacs.cli.users import _actor

print_app = typer.Typer(help="Print jobs received by the DICOM print server.",
                        no_args_is_help=True)


@print_app.command("list")
def print_list(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(min=1, max=100_000, help="Newest jobs shown.")] = 50,
) -> None:
    """List print jobs, newest first."""
    with app_context(state_of(ctx)) as app:
        jobs = app.printing.jobs(limit)
    table = Table(title="Print jobs")
    for column in ("job", "when (UTC)", "from", "films", "colour", "status"):
        table.add_column(column)
    for job in jobs:
        table.add_row(job.job_uid, job.created_at.strftime("%Y-%m-%d %H:%M:%S"),
                      escape(f"{job.calling_ae} ({job.address})"), str(len(job.films)),
                      "yes" if job.colour else "no", job.status)
    console.print(table)


@print_app.command("show")
def print_show(ctx: typer.Context, job: Annotated[str, typer.Argument(help="Job UID.")]) -> None:
    """Show one job: who printed it, when, and where its films are."""
    with app_context(state_of(ctx)) as app:
        found = app.printing.job(job)
        folder = app.printing.folder_of(found)
    console.print(f"job      {found.job_uid}", highlight=False)
    console.print(f"printed  {found.created_at:%Y-%m-%d %H:%M:%S} UTC by "
                  f"{escape(found.calling_ae)} from {escape(found.address)}", highlight=False)
    console.print(f"status   {found.status}; {'colour' if found.colour else 'grayscale'}",
                  highlight=False)
    console.print(f"folder   {folder.resolve()}", highlight=False)
    for number, film in enumerate(found.films, start=1):
        console.print(f"film {number}   {film.film_size} {escape(film.layout)}: {film.png}, "
                      f"{film.pdf}", highlight=False)


@print_app.command("delete")
def print_delete(ctx: typer.Context,
                 job: Annotated[str, typer.Argument(help="Job UID.")]) -> None:
    """Delete a job: its films' files and its record (audited)."""
    actor, address = _actor()
    with app_context(state_of(ctx)) as app:
        app.printing.delete(job, actor, address)
    console.print(f"Deleted print job {job}.", highlight=False)
