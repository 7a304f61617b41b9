"""``slidepacs convert IN OUT --to dicom|svs``: whole-slide format conversion."""

from __future__ import annotations

import time
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TransferSpeedColumn,
)

from slidepacs.cli.context import console, reported_errors
from slidepacs.wsi.formats import Target

if TYPE_CHECKING:
    from slidepacs.wsi.model import SlideSource


class Organization(str, Enum):
    """DICOM Dimension Organization Type of the written levels."""

    FULL = "full"
    SPARSE = "sparse"


def convert_command(
    source: Annotated[Path, typer.Argument(help="An SVS file, or a DICOM WSI folder/file.")],
    out: Annotated[Path, typer.Argument(help="Output folder (DICOM) or file (SVS).")],
    to: Annotated[Target, typer.Option("--to", help="Output format.")],
    organization: Annotated[
        Organization, typer.Option("--organization", help="TILED_FULL or TILED_SPARSE.")
    ] = Organization.FULL,
    complete_pyramid: Annotated[
        bool | None,
        typer.Option("--complete-pyramid/--keep-pyramid",
                     help="Derive missing levels (default: only for base-only slides)."),
    ] = None,
    quality: Annotated[int, typer.Option(help="JPEG quality of derived levels.", min=1,
                                         max=100)] = 85,
    barcode: Annotated[str | None, typer.Option(help="Barcode value of the slide.")] = None,
    slide_id: Annotated[str | None, typer.Option(help="Slide (container) ID.")] = None,
    mpp: Annotated[float | None, typer.Option(help="µm per pixel if the slide lacks it.")
                   ] = None,
) -> None:
    """Convert a whole-slide image between SVS and DICOM WSI without re-encoding tiles."""
    from slidepacs.wsi.convert import convert, total_bytes  # numpy, tifffile: not at start-up
    from slidepacs.wsi.to_dicom import DicomOptions

    options = DicomOptions(
        sparse=organization is Organization.SPARSE, complete_pyramid=complete_pyramid,
        jpeg_quality=quality, barcode=barcode, slide_id=slide_id, mpp=mpp,
    )
    started = time.perf_counter()
    with reported_errors(), Progress(
        TextColumn("[bold]converting"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
        TimeElapsedColumn(), console=console, transient=True,
    ) as progress:
        task = progress.add_task("tiles", total=None)

        def opened(slide: SlideSource) -> None:
            progress.update(task, total=total_bytes(slide))

        written = convert(source, out, to, options,
                          lambda n: progress.advance(task, n), opened)
    seconds = time.perf_counter() - started
    size = sum(path.stat().st_size for path in written)
    console.print(f"Wrote {len(written)} file(s) to {out}: {size / 1e6:.1f} MB in "
                  f"{seconds:.1f} s ({size / 1e6 / max(seconds, 1e-3):.0f} MB/s).")
