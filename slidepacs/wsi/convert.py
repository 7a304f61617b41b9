"""Open any supported slide and convert it: SVS ⇄ DICOM WSI (and DICOM/SVS to themselves)."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from slidepacs.errors import Conflict, InvalidInput
from slidepacs.wsi.dicom_reader import DicomSlide
from slidepacs.wsi.formats import Target, looks_like_tiff
from slidepacs.wsi.model import SlideSource
from slidepacs.wsi.svs_reader import SvsSlide
from slidepacs.wsi.svs_writer import write_svs
from slidepacs.wsi.to_dicom import DicomOptions, to_dicom



@contextmanager
def open_slide(path: Path) -> Iterator[SlideSource]:
    """An SVS file, or a DICOM WSI series (a folder, or any one file of it)."""
    if not path.exists():
        raise InvalidInput(f"{path}: no such file or folder")
    try:
        slide: SlideSource = SvsSlide(path) if path.is_file() and looks_like_tiff(path) \
            else DicomSlide(path)
    except PermissionError as exc:
        raise InvalidInput(f"{path}: unreadable ({exc.strerror})") from exc
    try:
        yield slide
    finally:
        slide.close()


def total_bytes(slide: SlideSource) -> int:
    """Encoded bytes of all levels (for progress)."""
    return sum(slide.level_bytes(i) for i in range(len(slide.levels)))


def convert(source_path: Path, out: Path, target: Target, options: DicomOptions,
            progress: Callable[[int], None] = lambda n: None,
            on_open: Callable[[SlideSource], None] = lambda s: None) -> list[Path]:
    """Convert the slide at ``source_path`` into ``out`` (a folder for DICOM, a file for SVS)."""
    if out.exists() and (out.is_file() or any(out.iterdir())):
        raise Conflict(f"{out} already exists")
    with open_slide(source_path) as slide:
        on_open(slide)
        if target is Target.SVS:
            return [write_svs(slide, out, progress)]
        created = not out.exists()
        try:
            return to_dicom(slide, out, options, progress)
        except BaseException:
            if created:
                shutil.rmtree(out, ignore_errors=True)
            raise
