"""Import folders, files and DICOMDIR media through the ingest service."""

from __future__ import annotations

import logging
import os
import posixpath
import shutil
import stat
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from slidepacs.dicom.dicomdir import referenced_files
from slidepacs.dicom.header import is_dicomdir
from slidepacs.errors import InvalidInput, SlidepacsError
from slidepacs.services.ingest import IngestFailure, IngestResult, IngestService, Outcome
from slidepacs.services.slide_import import SlideImporter
from slidepacs.wsi.formats import is_svs_candidate

log = logging.getLogger(__name__)
REASONS_FILE = "reasons.tsv"


@dataclass(frozen=True, slots=True)
class ImportItem:
    """One file to import, with the root it was found under (for error copies)."""

    path: Path
    root: Path


@dataclass(slots=True)
class ImportReport:
    """What an import did."""

    stored: int = 0
    duplicates: int = 0
    new_versions: int = 0
    quarantined: int = 0  # whole slides that broke the sender's image rules: kept aside
    failures: list[tuple[Path, str]] = field(default_factory=list)
    bytes_stored: int = 0
    seconds: float = 0.0

    @property
    def files(self) -> int:
        """Files looked at."""
        return (self.stored + self.duplicates + self.new_versions + self.quarantined
                + len(self.failures))

    def count(self, result: IngestResult | IngestFailure) -> None:
        """Add one result to the totals."""
        if isinstance(result, IngestFailure):
            self.failures.append((result.path, str(result.error)))
        elif result.outcome is Outcome.DUPLICATE:
            self.duplicates += 1
        elif result.outcome is Outcome.QUARANTINED:
            self.quarantined += 1
        else:
            self.bytes_stored += result.size
            if result.outcome is Outcome.STORED:
                self.stored += 1
            else:
                self.new_versions += 1


Progress = Callable[[ImportItem, IngestResult | IngestFailure], None]


class ImportService:
    """Finds DICOM files and hands them to ingest in batches."""

    def __init__(self, ingest: IngestService, batch_size: int = 32, workers: int = 4,
                 organization_of: Callable[[str], str] | None = None) -> None:
        self._ingest = ingest
        self._slides = SlideImporter(ingest, organization_of)
        self._batch_size = batch_size
        self._workers = workers

    def discover(
        self, paths: Sequence[Path], recursive: bool
    ) -> tuple[list[ImportItem], list[tuple[Path, str]]]:
        """The files to import under ``paths`` (DICOMDIRs expanded) and the paths that failed."""
        items: list[ImportItem] = []
        problems: list[tuple[Path, str]] = []
        seen: set[Path] = set()
        for root in paths:
            for item in _walk(root, recursive, problems):
                key = item.path.absolute()
                if key not in seen:
                    seen.add(key)
                    items.append(item)
        return items, problems

    def run(
        self,
        items: Sequence[ImportItem],
        source: str = "import",
        progress: Progress | None = None,
        sender: str | None = None,
    ) -> ImportReport:
        """Ingest every item; never stops on a bad file. SVS slides are converted to DICOM
        WSI first. ``sender``: the AE whose image rules apply to whole slides."""
        report = ImportReport()
        started = time.perf_counter()
        slides = [item for item in items if is_svs_candidate(item.path)]
        slide_set = set(slides)
        objects = [item for item in items if item not in slide_set] if slides else items
        results = self._ingest.ingest_stream(
            (i.path for i in objects), source, self._batch_size, self._workers, sender
        )
        for item, (_path, result) in zip(objects, results, strict=True):
            _count(report, item, [result], progress)
        for item in slides:
            _count(report, item, self._slides.import_slide(item.path, source, sender), progress)
        report.seconds = time.perf_counter() - started
        return report


def _count(report: ImportReport, item: ImportItem, results: list[IngestResult | IngestFailure],
           progress: Progress | None) -> None:
    for result in results:
        report.count(result)
        if isinstance(result, IngestFailure):
            log.warning("import refused %s: %s", item.path, result.error)
    if progress and results:
        progress(item, results[-1])


def _walk(root: Path, recursive: bool, problems: list[tuple[Path, str]]) -> Iterator[ImportItem]:
    if not os.path.lexists(root):
        problems.append((root, "path does not exist"))
        return
    if not root.is_dir():  # a file, or a link or special file that reading will explain
        yield from _expand(ImportItem(root, root.parent), problems)
        return
    if not os.access(root, os.R_OK | os.X_OK):
        problems.append((root, "folder cannot be read (permission denied)"))
        return
    media = root / "DICOMDIR"
    if media.is_file():
        yield from _expand(ImportItem(media, root), problems)
    for folder, subfolders, names in os.walk(root, onerror=_record_walk_error(problems)):
        subfolders.sort()
        if not recursive:
            subfolders.clear()
        for name in sorted(names):
            path = Path(folder, name)
            if path != media:
                yield from _expand(ImportItem(path, root), problems)


def _expand(item: ImportItem, problems: list[tuple[Path, str]]) -> Iterator[ImportItem]:
    special = _special_file(item.path)
    if special:
        problems.append((item.path, special))
        return
    if not is_dicomdir(item.path):
        yield item
        return
    try:
        for path in referenced_files(item.path):
            yield ImportItem(path, item.root)
    except InvalidInput as exc:
        problems.append((item.path, str(exc)))


def _special_file(path: Path) -> str:
    """Why ``path`` is not a file to read (opening a FIFO would wait forever); else ''."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return ""  # missing or unreadable: reading it reports the reason
    if stat.S_ISREG(mode):
        return ""
    return "not a regular file (a folder, named pipe, socket or device)"


def _record_walk_error(problems: list[tuple[Path, str]]) -> Callable[[OSError], None]:
    def record(error: OSError) -> None:
        problems.append((Path(error.filename or "?"), f"cannot read folder ({error.strerror})"))

    return record


def copy_failures(
    failures: Sequence[tuple[Path, str]], roots: dict[Path, Path], target: Path
) -> Path:
    """Copy each failed file under ``target`` with a ``reasons.tsv`` listing why it failed.

    A copy never overwrites another (two failed files with the same relative path, or a file
    left by an earlier run): the later one gets a numbered name. An existing ``reasons.tsv``
    is appended to.
    """
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InvalidInput(f"cannot create {target} ({exc.strerror})") from None
    reasons = target / REASONS_FILE
    lines = [] if reasons.exists() else ["copy\toriginal\treason"]
    for number, (path, reason) in enumerate(failures, start=1):
        copy_name = _copy_name(path, roots.get(path), number, target)
        try:
            destination = target / copy_name
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, destination)
        except (OSError, SlidepacsError) as exc:
            copy_name = f"(not copied: {getattr(exc, 'strerror', None) or exc})"
        lines.append(f"{copy_name}\t{path}\t{_one_line(reason)}")
    with reasons.open("a", encoding="utf-8") as listing:
        listing.write("\n".join(lines) + "\n")
    return reasons


def _copy_name(path: Path, root: Path | None, number: int, target: Path) -> str:
    if root is not None and root in path.parents:
        name = path.relative_to(root).as_posix()
    else:
        name = f"{number:06d}_{path.name}"
    folder, base = posixpath.split(name)
    extra = 0
    while name == REASONS_FILE or os.path.lexists(target / name):
        extra += 1
        name = posixpath.join(folder, f"{number:06d}-{extra}_{base}")
    return name


def _one_line(text: str) -> str:
    return " ".join(text.split())
