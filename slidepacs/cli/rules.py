"""``slidepacs rules`` (image rules per sending AE / scanner) and ``slidepacs quarantine``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Optional

import typer
from rich.markup import escape
from rich.table import Table

from slidepacs.cli.context import app_context, console, reported_errors, state_of
from slidepacs.domain.image_rules import SlideValues
from slidepacs.domain.quarantine import QuarantineEntry, StoredImageRules
from slidepacs.errors import InvalidInput

if TYPE_CHECKING:
    from slidepacs.services.image_rules import ImageRulesService
    from slidepacs.services.quarantine import QuarantineService

# The services (SQLAlchemy, pydicom, …) are imported inside the commands that use them, so
# that the CLI starts quickly.

rules_app = typer.Typer(help="Image rules per sending AE / scanner: barcode, IDs, file names.",
                        no_args_is_help=True)
quarantine_app = typer.Typer(help="Slides that broke their image rules, kept until fixed.",
                             no_args_is_help=True)


@dataclass
class _Services:
    rules: ImageRulesService
    quarantine: QuarantineService


@contextmanager
def _services(ctx: typer.Context) -> Iterator[_Services]:
    with app_context(state_of(ctx)) as app:
        yield _Services(app.rules, app.quarantine)


@rules_app.command("set")
def rules_set(
    ctx: typer.Context,
    ae_title: Annotated[str, typer.Argument(help="AE title the scanner sends from.")],
    scanner: Annotated[Optional[str], typer.Option(help="Scanner name ({SCANNER}).")] = None,
    barcode_regex: Annotated[Optional[str], typer.Option(
        help="Barcode value identifier: regex that finds the barcode ID, e.g. '\\d{6}'.")] = None,
    modifier_regex: Annotated[Optional[str], typer.Option(
        help="Barcode value modifier: regex whose matches are replaced.")] = None,
    modifier_format: Annotated[Optional[str], typer.Option(
        help="Substitution format: $1, ${name}, $0, $$, e.g. '$1'.")] = None,
    slide_id_regex: Annotated[Optional[str], typer.Option(help="Slide ID format (regex).")] = None,
    case_id_regex: Annotated[Optional[str], typer.Option(help="Case ID format (regex).")] = None,
    filename_template: Annotated[Optional[str], typer.Option(
        help="Image file name, e.g. '{IMAGEID}-{BARCODEID}'.")] = None,
    require_barcode: Annotated[Optional[bool], typer.Option(
        "--require-barcode/--no-require-barcode",
        help="Quarantine slides without a barcode ID.")] = None,
    output_format: Annotated[Optional[str], typer.Option(
        help="Image output format: dicom, or svs (also write an SVS file per slide).")] = None,
    file_location: Annotated[Optional[str], typer.Option(
        help="Folder (absolute) the SVS files are written to.")] = None,
    organization: Annotated[Optional[str], typer.Option(
        help="Tiling of slides slidepacs converts for this sender (SVS imports): full "
             "(TILED_FULL) or sparse (TILED_SPARSE).")] = None,
) -> None:
    """Set a sender's image rules; options left out keep their value, '' clears one."""
    from slidepacs.services.image_rules import RuleChanges

    changes = RuleChanges(scanner, barcode_regex, modifier_regex, modifier_format,
                          slide_id_regex, case_id_regex, filename_template, require_barcode,
                          output_format, file_location, organization)
    with _services(ctx) as services:
        result = services.rules.set(ae_title, changes)
    console.print(f"Image rules of {escape(result.rules.ae_title)} saved (version "
                  f"{result.rules.version}).", highlight=False)
    for name, before, after in result.changes:
        console.print(f"  {name}: {_shown(before)} → {_shown(after)}", markup=False,
                      highlight=False)


@rules_app.command("show")
def rules_show(
    ctx: typer.Context,
    ae_title: Annotated[Optional[str], typer.Argument(help="Only this AE.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """Show the image rules of every sender (or one)."""
    with _services(ctx) as services:
        stored = services.rules.show(ae_title)
    if as_json:
        console.print_json(json.dumps([_rules_dict(item) for item in stored]))
        return
    if not stored:
        console.print("No sender has image rules: file names are {IMAGEID}-{BARCODEID} and "
                      "no barcode is required.", markup=False)
        return
    for item in stored:
        table = Table(title=f"{item.ae_title} (version {item.version})", show_header=False)
        for name, value in _rules_dict(item).items():
            if name not in ("ae_title", "version"):
                table.add_row(name, escape(str(value)))
        console.print(table)


@rules_app.command("remove")
def rules_remove(ctx: typer.Context, ae_title: Annotated[str, typer.Argument()]) -> None:
    """Remove a sender's image rules (the defaults apply again)."""
    with _services(ctx) as services:
        services.rules.remove(ae_title)
    console.print(f"Removed the image rules of {escape(ae_title)}.")


@rules_app.command("test")
def rules_test(
    ctx: typer.Context,
    ae_title: Annotated[str, typer.Argument()],
    barcode: Annotated[Optional[str], typer.Option(help="Barcode as read.")] = None,
    image_id: Annotated[str, typer.Option(help="Image ID.")] = "1",
) -> None:
    """Show what a sender's rules make of a barcode (changes nothing)."""
    with _services(ctx) as services:
        decision = services.rules.apply(ae_title, SlideValues(image_id, barcode), fresh=True)
    for label, value in (("barcode ID", decision.barcode_id), ("slide ID", decision.slide_id),
                         ("case ID", decision.case_id), ("file name", decision.file_name),
                         ("violation", decision.violation)):
        console.print(f"{label}: {value if value is not None else '-'}", markup=False,
                      highlight=False)
    if not decision.accepted:
        raise typer.Exit(1)


@quarantine_app.command("list")
def quarantine_list(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """List quarantined files, oldest first, with the rule each broke."""
    with _services(ctx) as services:
        entries = services.quarantine.entries()
    if as_json:
        console.print_json(json.dumps([_entry_dict(entry) for entry in entries]))
        return
    if not entries:
        console.print("The quarantine is empty.")
        return
    table = Table(title="Quarantine")
    for column in ("ID", "received", "AE", "file", "bytes", "rules v.", "tries", "reason"):
        table.add_column(column)
    for e in entries:
        table.add_row(str(e.pk), f"{e.received_at.astimezone():%Y-%m-%d %H:%M:%S}",
                      escape(e.ae_title or "-"), escape(e.original_name), str(e.size),
                      str(e.rules_version), str(e.attempts), escape(e.reason))
    console.print(table)
    console.print("After fixing the rules: slidepacs quarantine retry --all")


@quarantine_app.command("show")
def quarantine_show(ctx: typer.Context, pk: Annotated[int, typer.Argument(metavar="ID")]) -> None:
    """Show one quarantined file: where it is kept, why, and its retries."""
    with _services(ctx) as services:
        entry = services.quarantine.entry(pk)
        path = services.quarantine.file_path(entry)
    for name, value in {**_entry_dict(entry), "kept_at": str(path)}.items():
        console.print(f"{name}: {value}", markup=False, highlight=False)


@quarantine_app.command("retry")
def quarantine_retry(
    ctx: typer.Context,
    pks: Annotated[Optional[list[int]], typer.Argument(metavar="[ID]...")] = None,
    every: Annotated[bool, typer.Option("--all", help="Retry every quarantined file.")] = False,
) -> None:
    """Re-apply the current rules; files that keep to them now are ingested."""
    from slidepacs.services.quarantine import RetryOutcome

    with reported_errors():
        if bool(pks) == every:
            raise InvalidInput("give quarantine IDs or --all (not both)")
    with _services(ctx) as services:
        results = services.quarantine.retry(None if every else pks)
    for result in results:
        console.print(f"#{result.entry.pk} {result.entry.original_name}: "
                      f"{result.outcome.value} ({result.detail})", markup=False,
                      highlight=False)
    done = sum(r.outcome is RetryOutcome.INGESTED for r in results)
    console.print(f"{done} of {len(results)} quarantined file(s) ingested.")


@quarantine_app.command("delete")
def quarantine_delete(
    ctx: typer.Context,
    pk: Annotated[int, typer.Argument(metavar="ID")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete a quarantined file for good (from every storage location)."""
    if not yes:
        typer.confirm(f"Delete quarantined file #{pk} for good?", abort=True)
    with _services(ctx) as services:
        entry = services.quarantine.delete(pk)
    console.print(f"Deleted quarantined file #{pk} ({escape(entry.original_name)}, "
                  f"{entry.size} bytes).")


def _shown(value: object) -> str:
    return f"'{value}'" if isinstance(value, str) else str(value)


def _rules_dict(item: StoredImageRules) -> dict[str, object]:
    return {"ae_title": item.ae_title, "version": item.version, "scanner": item.scanner,
            **item.spec.fields(),
            "updated_at": item.updated_at.isoformat() if item.updated_at else None}


def _entry_dict(entry: QuarantineEntry) -> dict[str, object]:
    values = entry.values
    return {
        "id": entry.pk, "ae_title": entry.ae_title, "source": entry.source,
        "original_name": entry.original_name, "relpath": entry.relpath, "size": entry.size,
        "sha256": entry.checksum, "reason": entry.reason, "rules_version": entry.rules_version,
        "received_at": entry.received_at.isoformat(), "attempts": entry.attempts,
        "last_attempt_at": entry.last_attempt_at.isoformat() if entry.last_attempt_at else None,
        "last_error": entry.last_error, "image_id": values.image_id, "barcode": values.barcode,
        "scanner": values.scanner,
        "scan_date": values.scan_date.isoformat() if values.scan_date else None,
    }
