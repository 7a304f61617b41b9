"""Check a converted DICOM WSI folder against its source SVS (for ``bench/wsi_peers.py``).

A conversion only counts if its output is a usable slide, so every peer's output is checked
the same way: the instances and their kinds (pyramid levels, label, overview, thumbnail), the
frames of the base level, whether wsidicom opens the folder as a slide, and whether one
base-level tile in the middle of the slide shows the same pixels as OpenSlide reading the SVS
(decoded by pydicom, which follows the DICOM Photometric Interpretation, and by wsidicom,
which hands the frame to its JPEG decoder as it is).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import openslide
import pydicom
from pydicom.pixels import pixel_array

WSI_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.77.1.6"


@dataclass(frozen=True)
class OutputCheck:
    """What one peer's output folder holds and how it reads."""

    instances: int
    levels: int
    base_size: str
    base_frames: int
    associated: str          # e.g. "label, overview, thumbnail"
    wsidicom: str            # "opens, 3 levels" or the error wsidicom raised
    pydicom_delta: int | None  # max |Δ| of the tile's RGB values against OpenSlide
    wsidicom_delta: int | None


def _is_dicom(path: Path) -> bool:
    with path.open("rb") as handle:
        handle.seek(128)
        return handle.read(4) == b"DICM"


def _kind(header: pydicom.Dataset) -> str:
    """``VOLUME``, ``LABEL``, ``OVERVIEW``, ``THUMBNAIL`` (a WSI without Image Type: a level)."""
    image_type = list(header.get("ImageType", []))
    return str(image_type[2]) if len(image_type) > 2 else "VOLUME"


def _frame_index(header: pydicom.Dataset, column: int, row: int) -> int | None:
    """The frame of one instance holding base tile (column, row), if that instance has it.

    By position when the instance lists them (TILED_SPARSE), else row by row (TILED_FULL,
    counting from the instance's offset in its concatenation).
    """
    per_frame = header.get("PerFrameFunctionalGroupsSequence")
    if per_frame is None:
        across = -(-int(header.TotalPixelMatrixColumns) // int(header.Columns))
        index = row * across + column - int(header.get("ConcatenationFrameOffsetNumber", 0))
        return index if 0 <= index < int(header.NumberOfFrames) else None
    x, y = column * int(header.Columns) + 1, row * int(header.Rows) + 1
    for index, item in enumerate(per_frame):
        position = item.PlanePositionSlideSequence[0]
        if (int(position.ColumnPositionInTotalImagePixelMatrix) == x
                and int(position.RowPositionInTotalImagePixelMatrix) == y):
            return index
    return None


def _decoded_tile(base: list[tuple[Path, Any]], column: int, row: int) -> np.ndarray:
    """Tile (column, row) of the base level, from whichever of its instances holds it."""
    for path, header in base:
        index = _frame_index(header, column, row)
        if index is not None:
            return pixel_array(path, index=index)
    raise LookupError(f"no base-level instance has tile ({column}, {row})")


def _reference_tile(svs: Path, column: int, row: int, size: int) -> np.ndarray:
    with openslide.OpenSlide(svs) as slide:
        region = slide.read_region((column * size, row * size), 0, (size, size))
    return np.asarray(region.convert("RGB"), dtype=np.int16)


def _delta(tile: np.ndarray, reference: np.ndarray) -> int:
    return int(np.abs(np.asarray(tile, dtype=np.int16)[..., :3] - reference).max())


def _wsidicom(folder: Path, column: int, row: int,
              reference: np.ndarray) -> tuple[str, int | None]:
    from wsidicom import WsiDicom

    try:
        with WsiDicom.open(folder) as slide:
            tile = np.asarray(slide.read_tile(0, (column, row)).convert("RGB"))
            return f"opens, {len(slide.levels)} levels", _delta(tile, reference)
    except Exception as error:  # noqa: BLE001 - the error is the finding
        message = str(error).replace(str(folder), folder.name)
        return f"fails: {type(error).__name__}: {message}", None


def check_output(folder: Path, svs: Path) -> OutputCheck:
    """Inspect ``folder`` (one converted slide) against ``svs``."""
    headers: list[tuple[Path, Any]] = []
    for path in sorted(p for p in folder.iterdir() if p.is_file() and _is_dicom(p)):
        headers.append((path, pydicom.dcmread(path, stop_before_pixels=True)))
    wsi = [(p, h) for p, h in headers if h.SOPClassUID == WSI_SOP_CLASS]
    levels = [(p, h) for p, h in wsi if _kind(h) == "VOLUME"]
    kinds = sorted({_kind(h).lower() for _p, h in wsi if _kind(h) != "VOLUME"})
    if not levels:
        return OutputCheck(len(headers), 0, "–", 0, ", ".join(kinds) or "none",
                           "not checked", None, None)
    width = max(int(h.TotalPixelMatrixColumns) for _p, h in levels)
    base_instances = [(p, h) for p, h in levels if int(h.TotalPixelMatrixColumns) == width]
    base = base_instances[0][1]
    column = width // int(base.Columns) // 2
    row = int(base.TotalPixelMatrixRows) // int(base.Rows) // 2
    reference = _reference_tile(svs, column, row, int(base.Columns))
    tile = _decoded_tile(base_instances, column, row)
    opens, wsidicom_delta = _wsidicom(folder, column, row, reference)
    return OutputCheck(
        instances=len(headers),
        levels=len({int(h.TotalPixelMatrixColumns) for _p, h in levels}),
        base_size=f"{width:,} × {int(base.TotalPixelMatrixRows):,}",
        base_frames=sum(int(h.NumberOfFrames) for _p, h in base_instances),
        associated=", ".join(kinds) or "none",
        wsidicom=opens,
        pydicom_delta=_delta(tile, reference),
        wsidicom_delta=wsidicom_delta,
    )
