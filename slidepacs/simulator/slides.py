"""One scanned slide written as DICOM WSI instances, like the scanner sends it (SPEC §4):
tissue-like synthetic pyramid at 0.26 µm/pixel (40x), label with a printed barcode, macro,
Series Number = the image ID, Barcode Value = the barcode as read (or left out, so that the
archive reads the label), the scanner's Manufacturer / Model / Serial / Software Versions;
TILED_FULL or TILED_SPARSE as the scanner's configuration says."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

import numpy as np

from slidepacs.errors import InvalidInput
from slidepacs.simulator.labels import PrintedLabel, label_image, macro_image
from slidepacs.testing.slides import SlideSpec, SyntheticSlide
from slidepacs.wsi.barcodes import Symbology
from slidepacs.wsi.to_dicom import DicomOptions, to_dicom

SCANNER_MPP = 0.26
MAGNIFICATION = 40.0
DEFAULT_SIZE = (4096, 2560)  # base level pixels: about 5 MB of JPEG tiles plus label and macro
TILE = 256
TILE_POOL = 48  # distinct base-level tiles, generated once and reused by every slide (fast)
POOLS = 8       # slides fall into this many families sharing one tile pool
MACRO_TISSUE_PIXELS = 580


@dataclass(frozen=True, slots=True)
class ScannerIdentity:
    """What the scanner writes into its Equipment module."""

    manufacturer: str = "slidepacs"
    model: str = "Virtual Scanner VS-450"
    serial: str = "VS450-0001"
    software_version: str = "vscan 1.0.0"


@dataclass(frozen=True, slots=True)
class ScannedSlide:
    """A slide written to disk, ready to send."""

    image_id: str
    label: PrintedLabel
    barcode_in_header: bool
    files: tuple[Path, ...]
    width: int
    height: int
    file_size: int  # bytes of all instances

    @property
    def barcode(self) -> str:
        """The barcode as printed on the label."""
        return self.label.barcode

    @property
    def symbology(self) -> Symbology:
        """The label barcode's symbology."""
        return self.label.symbology


def parse_slide_size(text: str) -> tuple[int, int]:
    """``"4096x2560"`` → (4096, 2560); InvalidInput unless both are 256-65536 pixels."""
    match = re.fullmatch(r"\s*(\d+)\s*[xX×]\s*(\d+)\s*", text)
    if not match:
        raise InvalidInput(f"slide size must be WIDTHxHEIGHT in pixels, not {text!r}")
    width, height = int(match[1]), int(match[2])
    if not (TILE <= width <= 65536 and TILE <= height <= 65536):
        raise InvalidInput(f"slide size must be {TILE}-65536 pixels each way, not {text!r}")
    return width, height


def _downsamples(width: int, height: int) -> tuple[int, ...]:
    """Levels down by 4 until one tile holds the level."""
    levels = [1]
    while max(width, height) / levels[-1] > TILE:
        levels.append(levels[-1] * 4)
    return tuple(levels)


def _glass_corners(width: int, height: int) -> frozenset[tuple[int, int]]:
    """Base tiles left out of a sparse slide: the corners, where there is only glass."""
    right, bottom = -(-width // TILE) - 1, -(-height // TILE) - 1
    return frozenset({(0, 0), (right, 0), (0, bottom), (right, bottom)}) if right and bottom \
        else frozenset()


def write_slide(folder: Path, image_id: str, label: PrintedLabel, *, seed: int,
                sparse: bool = False, size: tuple[int, int] = DEFAULT_SIZE,
                tile_pool: int | None = TILE_POOL,
                barcode_in_header: bool = True, identity: ScannerIdentity = ScannerIdentity(),
                scanned_at: datetime | None = None) -> ScannedSlide:
    """Generate the slide and write its DICOM instances into ``folder`` (new or empty)."""
    width, height = size
    spec = SlideSpec(width=width, height=height, tile=TILE, downsamples=_downsamples(*size),
                     mpp=SCANNER_MPP, objective_power=MAGNIFICATION,
                     barcode=label.barcode if barcode_in_header else None, seed=seed,
                     tile_pool=tile_pool,
                     missing=_glass_corners(width, height) if sparse else frozenset())
    when = scanned_at or datetime.now()
    labelled = label_image(label, turned=seed % 4 == 3)
    source = SyntheticSlide(spec, label=labelled, overview=macro_image(labelled, _tissue(spec)),
                            pool=_shared_pool(seed) if tile_pool else None)
    source.metadata = replace(
        source.metadata, image_id=image_id, scanner_serial=identity.serial,
        acquired=when.strftime("%Y%m%d%H%M%S"),
        properties={"Manufacturer": identity.manufacturer, "ScannerType": identity.model,
                    "SoftwareVersions": identity.software_version,
                    "ScanScope ID": identity.serial})
    files = to_dicom(source, folder, DicomOptions(sparse=sparse, created=when, workers=1))
    return ScannedSlide(image_id, label, barcode_in_header, tuple(files), width, height,
                        sum(path.stat().st_size for path in files))


_POOLS: dict[int, dict[int, bytes]] = {}


def _shared_pool(seed: int) -> dict[int, bytes]:
    """The encoded base tiles shared by a family of slides (a dict stays consistent under
    concurrent scanners: at worst a tile is made twice)."""
    return _POOLS.setdefault(seed % POOLS, {})


def _tissue(spec: SlideSpec) -> np.ndarray:
    """The whole tissue, small, for the macro image."""
    scale = max(spec.width, spec.height) / MACRO_TISSUE_PIXELS
    return SyntheticSlide(spec).pixels(scale, 0, 0, int(spec.width / scale),
                                       int(spec.height / scale), spec.seed)
