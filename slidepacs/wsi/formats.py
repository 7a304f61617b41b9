"""Telling slide files apart by their first bytes (no imaging library imported)."""

from __future__ import annotations

from enum import Enum

from pathlib import Path

TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")  # classic and BigTIFF
DICOM_PREAMBLE = 128


def looks_like_tiff(path: Path) -> bool:
    """True when ``path`` starts like a TIFF file (OSError if it cannot be read)."""
    with open(path, "rb") as handle:
        return handle.read(4) in TIFF_MAGIC


def is_svs_candidate(path: Path) -> bool:
    """True for a readable TIFF file that is not also a DICOM file (a slide to convert)."""
    try:
        with open(path, "rb") as handle:
            start = handle.read(DICOM_PREAMBLE + 4)
    except OSError:
        return False
    return start[:4] in TIFF_MAGIC and start[DICOM_PREAMBLE:] != b"DICM"


class Target(str, Enum):
    """Output format of ``slidepacs convert``."""

    DICOM = "dicom"
    SVS = "svs"
