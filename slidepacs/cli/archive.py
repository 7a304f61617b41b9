"""``slidepacs import``, ``export`` and ``stats``."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from slidepacs.cli.context import app_context, console, reported_errors, state_of
from slidepacs.domain.aes import checked_ae_title
from slidepacs.domain.query import parse_condition
from slidepacs.errors import InvalidInput

if TYPE_CHECKING:
    from slidepacs.services.importer import ImportReport

# The services (SQLAlchemy, pydicom, …) are imported inside the commands that use them, so
# that the CLI starts quickly.


def import_command(
    ctx: typer.Context,
    paths: Annotated[list[Path], typer.Argument(help="Files, folders or DICOMDIR media.")],
    recursive: Annotated[
        bool, typer.Option("--recursive", "-r", help="Descend into sub-folders.")
    ] = False,
    errors_to: Annotated[
        Optional[Path],
        typer.Option("--errors-to", help="Copy each failed file here, with reasons.tsv."),
    ] = None,
    ae_title: Annotated[
        Optional[str],
        typer.Option("--ae", help="Apply this sending AE's image rules to whole slides."),
    ] = None,
) -> None:
    """Import DICOM files and SVS slides (converted to DICOM WSI) into the archive, with
    progress and a summary."""
    from slidepacs.services.importer import copy_failures

    with reported_errors():
        sender = checked_ae_title(ae_title) if ae_title is not None else None
    with app_context(state_of(ctx)) as app, warnings.catch_warnings():
        # pydicom logs every oddity it warns about (to the log file); printed, the warnings
        # would tear the progress bar apart
        warnings.simplefilter("ignore")
        items, problems = app.importer.discover(paths, recursive)
        total_bytes = sum(_size(i.path) for i in items)
        with _progress() as progress:
            files = progress.add_task("files", total=len(items))
            data = progress.add_task("bytes", total=total_bytes, show_speed=True)

            def advance(item, result) -> None:  # noqa: ANN001 - rich callback
                progress.advance(files)
                progress.advance(data, _size(item.path))

            report = app.importer.run(items, "import", advance, sender)
        for written in app.slide_outputs.write_due(force=True):
            console.print(f"Wrote {written}", markup=False, highlight=False)
        report.failures[:0] = problems
        _print_import_summary(report)
        if errors_to is not None and report.failures:
            roots = {i.path: i.root for i in items}
            reasons = copy_failures(report.failures, roots, errors_to)
            console.print(f"Failed files copied to {errors_to} (reasons in {reasons.name}).")
    if report.failures:
        raise typer.Exit(1)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description:>5}"), BarColumn(), MofNCompleteColumn(),
        TransferSpeedColumn(), TimeElapsedColumn(), TimeRemainingColumn(),
        console=console, transient=False,
    )


def _print_import_summary(report: ImportReport) -> None:
    table = Table(title="Import summary")
    table.add_column("result")
    table.add_column("files", justify="right")
    table.add_row("stored", str(report.stored))
    table.add_row("already stored (identical)", str(report.duplicates))
    table.add_row("new versions", str(report.new_versions))
    if report.quarantined:
        table.add_row("quarantined (image rules; slidepacs quarantine list)",
                      str(report.quarantined), style="yellow")
    table.add_row("failed", str(len(report.failures)), style="red" if report.failures else None)
    console.print(table)
    seconds = max(report.seconds, 1e-9)
    console.print(
        f"{report.bytes_stored / 1e6:.1f} MB stored in {report.seconds:.1f} s "
        f"({report.bytes_stored / 1e6 / seconds:.1f} MB/s, {report.files / seconds:.0f} files/s)"
    )
    if report.failures:
        failures = Table(title="Failed files")
        failures.add_column("path", overflow="fold")
        failures.add_column("reason", overflow="fold")
        for path, reason in report.failures[:50]:
            failures.add_row(str(path), reason)
        console.print(failures)
        if len(report.failures) > 50:
            console.print(f"... and {len(report.failures) - 50} more (use --errors-to DIR).")


def export_command(
    ctx: typer.Context,
    target: Annotated[Path, typer.Argument(help="Empty or new folder to write to.")],
    patient: Annotated[Optional[str], typer.Option("--patient", help="Patient ID.")] = None,
    study: Annotated[Optional[str], typer.Option("--study", help="Study Instance UID.")] = None,
    query: Annotated[
        Optional[list[str]],
        typer.Option("--query", "-q", help="KEYWORD=VALUE with DICOM matching, e.g. "
                     "PatientName='DOE*' or StudyDate=20240101-20241231; repeatable."),
    ] = None,
    dicomdir: Annotated[bool, typer.Option("--dicomdir/--no-dicomdir",
                                           help="Write a DICOMDIR file-set.")] = True,
) -> None:
    """Export a patient, a study or a query's instances to a folder with a DICOMDIR."""
    from slidepacs.services.export import selection

    with reported_errors():
        conditions = tuple(c for c in (_condition(q) for q in query or []) if c is not None)
        if patient is None and study is None and not conditions:
            raise InvalidInput("choose what to export: --patient, --study or --query")
        chosen = selection(patient, study, conditions)
    if not dicomdir:
        raise typer.BadParameter("only DICOMDIR export is available", param_hint="--dicomdir")
    with app_context(state_of(ctx)) as app:
        report = app.exporter.export(chosen, target)
    console.print(f"Exported {report.instances} instances ({report.bytes / 1e6:.1f} MB) "
                  f"to {report.target} with a DICOMDIR.")


def _condition(text: str):  # noqa: ANN202 - Condition | None
    keyword, sep, value = text.partition("=")
    if not sep:
        raise InvalidInput(f"--query {text!r} must be KEYWORD=VALUE")
    return parse_condition(keyword.strip(), value)


def stats_command(ctx: typer.Context) -> None:
    """Show how much the archive holds, and bytes per storage location."""
    from slidepacs.services.stats import archive_stats

    with app_context(state_of(ctx)) as app:
        stats = archive_stats(app.unit_of_work, app.store)
    counts = stats.counts
    table = Table(title="Archive")
    table.add_column("what")
    table.add_column("count", justify="right")
    for name in ("patients", "studies", "series", "instances", "old_versions"):
        table.add_row(name.replace("_", " "), f"{getattr(counts, name):,}")
    table.add_row("bytes indexed", f"{counts.bytes:,}")
    console.print(table)
    locations = Table(title="Storage locations")
    locations.add_column("location")
    locations.add_column("bytes on disk", justify="right")
    for path, used in stats.location_bytes.items():
        locations.add_row(str(path), f"{used:,}")
    console.print(locations)
