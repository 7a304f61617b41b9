"""Importing Aperio SVS files: each is converted to a DICOM WSI series (tiles not re-encoded)
and the series' instances go through the ingest service like any received instance."""

from __future__ import annotations

import hashlib
import shutil
from datetime import datetime
from collections.abc import Callable
from pathlib import Path

from slidepacs.errors import InvalidInput, SlidepacsError
from slidepacs.services.ingest import IngestFailure, IngestResult, IngestService

SEED_BYTES = 1 << 20  # the slide's first and last MiB (with its size) identify it


class SlideImporter:
    """Converts SVS files to DICOM WSI and ingests the instances."""

    def __init__(self, ingest: IngestService,
                 organization_of: Callable[[str], str] | None = None) -> None:
        """``organization_of``: a sender's tiling, "full" or "sparse" (its image rules);
        without it, or without a sender, slides are written TILED_FULL."""
        self._ingest = ingest
        self._organization_of = organization_of

    def import_slide(self, path: Path, source: str,
                     sender: str | None = None) -> list[IngestResult | IngestFailure]:
        """Convert one SVS file and ingest its series; one result per instance written, or
        one failure for the file (nothing of it stored) if it cannot be converted."""
        from slidepacs.wsi.convert import Target, convert  # tifffile/imagecodecs: only here
        from slidepacs.wsi.to_dicom import DicomOptions

        folder = self._ingest.incoming_path()  # a temporary name: swept if we die
        folder.mkdir()
        try:
            try:
                seed, created = _identity(path)
                written = convert(path, folder / "series", Target.DICOM, DicomOptions(
                    sparse=self._sparse(sender), uid_seed=seed, created=created))
            except SlidepacsError as exc:
                return [IngestFailure(path, exc)]
            except (OSError, ValueError) as exc:
                return [IngestFailure(path, _unreadable(path, exc))]
            return [self._ingest_one(path, file, source, sender) for file in written]
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def _sparse(self, sender: str | None) -> bool:
        if sender is None or self._organization_of is None:
            return False
        return self._organization_of(sender) == "sparse"

    def _ingest_one(self, slide: Path, file: Path, source: str,
                    sender: str | None) -> IngestResult | IngestFailure:
        try:
            return self._ingest.ingest_received(file, source, sender=sender)
        except SlidepacsError as exc:
            return IngestFailure(slide, exc)


def _identity(path: Path) -> tuple[str, datetime]:
    """A seed for the series' UIDs and its creation time, both from the file: importing the
    same slide again writes the same bytes (a duplicate, not a second series)."""
    info = path.stat()
    digest = hashlib.sha256(f"{info.st_size}:".encode())
    with open(path, "rb") as handle:
        digest.update(handle.read(SEED_BYTES))
        handle.seek(max(info.st_size - SEED_BYTES, 0))
        digest.update(handle.read(SEED_BYTES))
    return digest.hexdigest(), datetime.fromtimestamp(int(info.st_mtime))


def _unreadable(path: Path, exc: Exception) -> SlidepacsError:
    return InvalidInput(f"{path.name}: not a readable SVS slide ({exc})")
