"""Helpers for the whole-slide tests: raw TIFF tiles, dciodvfy findings, region reads."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import openslide
import tifffile


@dataclass(frozen=True)
class TiledPage:
    """One tiled TIFF page as stored: its JPEGTables and the raw bytes of every tile."""

    shape: tuple[int, ...]
    tables: bytes | None
    tiles: list[bytes]


def tiled_pages(path: Path) -> list[TiledPage]:
    """Every tiled page of a TIFF, tiles read by offset (no decoding)."""
    pages = []
    with tifffile.TiffFile(path) as tiff:
        handle = tiff.filehandle
        for page in tiff.pages:
            if not isinstance(page, tifffile.TiffPage) or not page.is_tiled:
                continue
            tiles = []
            for offset, count in zip(page.dataoffsets, page.databytecounts):
                handle.seek(offset)
                tiles.append(handle.read(count))
            pages.append(TiledPage(page.shape, page.jpegtables, tiles))
    return pages


@dataclass(frozen=True)
class Findings:
    """What dciodvfy said about one file."""

    errors: list[str]
    warnings: list[str]


def dciodvfy(path: Path) -> Findings:
    """Run dicom3tools' dciodvfy (fails if it is not installed)."""
    done = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True, timeout=120,
                          check=False)  # dciodvfy exits non-zero when it finds errors
    lines = (done.stdout + done.stderr).splitlines()
    return Findings([l for l in lines if "Error" in l], [l for l in lines if "Warning" in l])


def region(path: Path, location: tuple[int, int], level: int, size: tuple[int, int]) -> np.ndarray:
    """RGBA pixels read by OpenSlide (which picks its SVS or DICOM driver)."""
    with openslide.OpenSlide(path) as slide:
        return np.asarray(slide.read_region(location, level, size))


def summary(path: Path) -> tuple[tuple[tuple[int, int], ...], str | None, str]:
    """Level dimensions, MPP and vendor as OpenSlide reports them."""
    with openslide.OpenSlide(path) as slide:
        return (slide.level_dimensions, slide.properties.get(openslide.PROPERTY_NAME_MPP_X),
                slide.properties[openslide.PROPERTY_NAME_VENDOR])
