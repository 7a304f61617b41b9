"""``slidepacs forward``: forwarding rules and the forwarding queue."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Annotated, Optional

import typer
from rich.markup import escape
from rich.table import Table

from slidepacs.cli.context import app_context, console, reported_errors, state_of
from slidepacs.domain.forward_queue import DestinationStatus
from slidepacs.domain.forwarding import RuleSpec
from slidepacs.errors import InvalidInput

forward_app = typer.Typer(help="Forward received instances to registered AEs.",
                          no_args_is_help=True)


@forward_app.command("add")
def forward_add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="A name for the rule.")],
    destination: Annotated[str, typer.Argument(help="Registered AE (name or AE title).")],
    calling_ae: Annotated[Optional[list[str]], typer.Option(
        "--calling-ae", help="Calling AE title of the sender (only instances received over "
        "DICOM match).")] = None,
    modality: Annotated[Optional[list[str]], typer.Option(
        "--modality", help="Modality, e.g. CT.")] = None,
    sop_class: Annotated[Optional[list[str]], typer.Option(
        "--sop-class", help="SOP Class UID, e.g. 1.2.840.10008.5.1.4.1.1.2.")] = None,
    tag: Annotated[Optional[list[str]], typer.Option(
        "--tag", help="KEYWORD=PATTERN on a header attribute, e.g. BodyPartExamined=CHEST.")
    ] = None,
) -> None:
    """Add a rule: instances matching every given criterion are forwarded to DESTINATION.

    Patterns are DICOM wildcards (* and ?) or, after 're:', regular expressions; repeat an
    option to give alternatives.
    """
    with reported_errors():
        tags = _tags(tag or [])
    spec = RuleSpec(name, destination, tuple(calling_ae or ()), tuple(modality or ()),
                    tuple(sop_class or ()), tags)
    with app_context(state_of(ctx)) as app:
        added = app.forwarding.rules.add(spec)
    console.print(f"Added rule {escape(added.name)}: {escape(added.describe())} → "
                  f"{escape(added.destination)}.")


@forward_app.command("list")
def forward_list(ctx: typer.Context) -> None:
    """List the rules: those of the config file (read-only) and those added here."""
    with app_context(state_of(ctx)) as app:
        rules = app.forwarding.rules.all()
        unregistered = {r.name for r in app.forwarding.rules.unregistered_destinations()}
    table = Table(title="Forwarding rules")
    for column in ("name", "from", "destination", "matches"):
        table.add_column(column)
    for rule in rules:
        destination = escape(rule.destination) + (
            " [red](not registered)[/red]" if rule.name in unregistered else "")
        table.add_row(escape(rule.name), "config file" if rule.from_config else "CLI",
                      destination, escape(rule.describe()))
    console.print(table)
    if unregistered:
        console.print("Instances for an unregistered destination are queued and retried until "
                      "it is registered (slidepacs ae add).")


@forward_app.command("remove")
def forward_remove(
    ctx: typer.Context, name: Annotated[str, typer.Argument(help="Rule name.")]
) -> None:
    """Remove a rule added with `forward add` (config file rules are edited in the file)."""
    with app_context(state_of(ctx)) as app:
        app.forwarding.rules.remove(name)
    console.print(f"Removed rule {escape(name)}.")


@forward_app.command("status")
def forward_status(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """Show the queue per destination: jobs per state, next attempt, last error."""
    with app_context(state_of(ctx)) as app:
        statuses = app.forwarding.status()
    if as_json:
        console.print_json(json.dumps([_as_dict(s) for s in statuses]))
        return
    if not statuses:
        console.print("The forwarding queue is empty.")
        return
    table = Table(title="Forwarding queue")
    for column in ("destination", "pending", "sending", "done", "failed", "next attempt"):
        table.add_column(column, justify="left" if column == "destination" else "right")
    for status in statuses:
        table.add_row(escape(status.destination), str(status.pending), str(status.sending),
                      str(status.done), str(status.failed), _next(status.next_attempt_at))
    console.print(table)
    for status in statuses:
        if status.last_error:
            console.print(f"{status.destination}: last error at {_when(status.last_error_at)}: "
                          f"{status.last_error}", markup=False, highlight=False, soft_wrap=True)
    if any(status.failed for status in statuses):
        console.print("Failed jobs are retried with: slidepacs forward retry [--destination AE]")


@forward_app.command("retry")
def forward_retry(
    ctx: typer.Context,
    destination: Annotated[Optional[str], typer.Option(
        "--destination", help="Only this destination (AE name or title).")] = None,
) -> None:
    """Try failed jobs again from the start, and send waiting jobs now."""
    with app_context(state_of(ctx)) as app:
        result = app.forwarding.retry(destination)
    console.print(f"{result.failed_reset} failed job(s) queued again; {result.pending_advanced} "
                  "waiting job(s) due now.")


def _tags(options: list[str]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """``KEYWORD=PATTERN`` options, grouped by keyword."""
    tags: dict[str, list[str]] = {}
    for option in options:
        keyword, sep, pattern = option.partition("=")
        if not sep or not keyword.strip():
            raise InvalidInput(f"--tag {option!r}: expected KEYWORD=PATTERN")
        tags.setdefault(keyword.strip(), []).append(pattern)
    return tuple((keyword, tuple(patterns)) for keyword, patterns in tags.items())


def _when(moment: datetime | None) -> str:
    """Local time of a stored (UTC) moment."""
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S") if moment else "-"


def _next(moment: datetime | None) -> str:
    """When the next attempt is due, with how long until then."""
    if moment is None:
        return "-"
    seconds = (moment - datetime.now(timezone.utc)).total_seconds()
    return f"{_when(moment)} ({'due now' if seconds <= 0 else f'in {seconds:.0f} s'})"


def _as_dict(status: DestinationStatus) -> dict[str, object]:
    return {
        "destination": status.destination, "pending": status.pending,
        "sending": status.sending, "done": status.done, "failed": status.failed,
        "next_attempt_at": status.next_attempt_at.isoformat() if status.next_attempt_at else None,
        "last_error": status.last_error,
        "last_error_at": status.last_error_at.isoformat() if status.last_error_at else None,
    }
