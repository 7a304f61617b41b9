"""What a slide is, independent of its file format: levels, tiles, metadata, a source port."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import Enum
from typing import Protocol

import numpy as np


class Codec(str, Enum):
    """How each tile of a level is compressed."""

    JPEG = "jpeg"
    JPEG2000 = "jpeg2000"


class Associated(str, Enum):
    """Non-pyramid images of a slide, named by their DICOM Image Type value 3."""

    LABEL = "LABEL"
    OVERVIEW = "OVERVIEW"
    THUMBNAIL = "THUMBNAIL"


@dataclass(frozen=True, slots=True)
class Level:
    """One pyramid level: its size in pixels, its tile grid and how tiles are encoded.

    ``photometric`` is the DICOM Photometric Interpretation the tiles decode with
    (``YBR_FULL_422`` or ``RGB`` for JPEG, ``YBR_ICT``, ``YBR_FULL`` or ``RGB`` for JPEG 2000).
    ``downsample`` is relative to level 0; ``derived`` marks levels slidepacs computed.
    """

    px_width: int
    px_height: int
    tile_width: int
    tile_height: int
    codec: Codec
    photometric: str
    downsample: float = 1.0
    derived: bool = False

    @property
    def tiles_across(self) -> int:
        """Number of tile columns (edge tiles included)."""
        return math.ceil(self.px_width / self.tile_width)

    @property
    def tiles_down(self) -> int:
        """Number of tile rows (edge tiles included)."""
        return math.ceil(self.px_height / self.tile_height)

    @property
    def tile_count(self) -> int:
        """Tiles in a full grid."""
        return self.tiles_across * self.tiles_down


@dataclass(frozen=True, slots=True)
class SlideMetadata:
    """Facts about the slide that both formats can carry."""

    mpp: float | None = None
    objective_power: float | None = None
    origin_mm: tuple[float, float] = (0.0, 0.0)
    acquired: str | None = None  # DICOM DT (YYYYMMDDHHMMSS)
    scanner_serial: str | None = None
    image_id: str | None = None
    barcode: str | None = None
    slide_id: str | None = None
    icc_profile: bytes | None = None
    jpeg_quality: int | None = None
    properties: dict[str, str] = field(default_factory=dict)


class SlideSource(Protocol):
    """A readable slide (SVS file, DICOM series, or a pyramid being completed).

    Frames are complete streams as DICOM stores them: JPEG with its tables, JPEG 2000
    codestreams; ``None`` means the tile is missing.
    """

    metadata: SlideMetadata
    levels: list[Level]

    def read_frame(self, level: int, tile_x: int, tile_y: int) -> bytes | None:
        """The encoded tile at column ``tile_x``, row ``tile_y`` of ``level``."""
        ...

    def read_row(self, level: int, tile_y: int) -> list[bytes | None]:
        """Every frame of tile row ``tile_y``, left to right (one read where possible)."""
        ...

    def present_tiles(self, level: int) -> Iterator[tuple[int, int]]:
        """``(tile_x, tile_y)`` of every tile that exists, row by row."""
        ...

    def level_bytes(self, level: int) -> int:
        """The encoded size of a level's tiles (exact or a close upper estimate)."""
        ...

    def associated(self, kind: Associated) -> np.ndarray | None:
        """A small RGB image (height × width × 3, uint8), or None when absent."""
        ...

    def close(self) -> None:
        """Release the open file(s)."""
        ...
