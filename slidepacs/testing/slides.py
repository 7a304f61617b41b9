"""Synthetic whole slides for tests and benchmarks: tissue-like pyramids written as SVS.

Tissue is a few large pink/purple blobs with nuclei-like dots and sensor noise on white
glass, so JPEG tiles have realistic sizes (~20–60 KB per 256 × 256 tile at quality 80–90)
and zoomed-out levels still look like tissue. Tiles are generated one at a time; for big
benchmark slides a pool of encoded tissue tiles is reused so generation stays quick.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import imagecodecs
import numpy as np

from slidepacs.wsi import jpeg
from slidepacs.wsi.model import Associated, Codec, Level, SlideMetadata
from slidepacs.wsi.svs_writer import write_svs

PINK = np.array([236, 150, 190], np.float32)
PURPLE = np.array([110, 60, 150], np.float32)
GLASS = np.array([246, 244, 247], np.float32)


@dataclass(frozen=True)
class SlideSpec:
    """What to generate. ``downsamples`` lists the pyramid (1 = base only)."""

    width: int = 2048
    height: int = 1536
    tile: int = 256
    downsamples: tuple[int, ...] = (1, 4)
    quality: int = 85
    codec: Codec = Codec.JPEG
    rgb_jpeg: bool = False  # Aperio GT450 style: RGB JPEG without a colour marker
    mpp: float = 0.25
    objective_power: float = 40.0
    barcode: str | None = "S26-04711 A1"
    missing: frozenset[tuple[int, int]] = field(default_factory=frozenset)  # base-level tiles
    tile_pool: int | None = None  # reuse this many encoded tissue tiles (bench slides)
    icc_profile: bytes | None = None  # embedded in the base level like a scanner's profile
    seed: int = 7


def _photometric(spec: SlideSpec) -> str:
    if spec.codec is Codec.JPEG2000:
        return "YBR_ICT"
    return "RGB" if spec.rgb_jpeg else "YBR_FULL_422"


class SyntheticSlide:
    """A procedurally generated :class:`~slidepacs.wsi.model.SlideSource`."""

    def __init__(self, spec: SlideSpec, label: np.ndarray | None = None,
                 overview: np.ndarray | None = None,
                 pool: dict[int, bytes] | None = None) -> None:
        """``label`` and ``overview`` (RGB arrays) replace the generated label and macro;
        ``pool`` shares the encoded tiles of ``spec.tile_pool`` between slides of one tile
        size and codec (faster, but their base tiles then come from the first slide)."""
        self.spec = spec
        self._label, self._overview = label, overview
        rng = np.random.default_rng(spec.seed)
        count = 6
        self._blobs = np.column_stack([
            rng.uniform(0.15, 0.85, count) * spec.width,
            rng.uniform(0.15, 0.85, count) * spec.height,
            rng.uniform(0.12, 0.3, count) * min(spec.width, spec.height),
        ])
        self.levels = [
            Level(math.ceil(spec.width / d), math.ceil(spec.height / d), spec.tile, spec.tile,
                  spec.codec, _photometric(spec), float(d))
            for d in spec.downsamples
        ]
        self.metadata = SlideMetadata(
            mpp=spec.mpp, objective_power=spec.objective_power, barcode=spec.barcode,
            acquired="20261123101500", scanner_serial="SYN-0001", image_id="424242",
            jpeg_quality=spec.quality, properties={"ScanScope ID": "SYN-0001"},
            icc_profile=spec.icc_profile,
        )
        self._pool: dict[int, bytes] = {} if pool is None else pool

    def pixels(self, downsample: float, x0: int, y0: int, width: int, height: int,
               noise_seed: int) -> np.ndarray:
        """RGB pixels of a region given in the coordinates of a level."""
        xs = (x0 + np.arange(width, dtype=np.float32)) * downsample
        ys = (y0 + np.arange(height, dtype=np.float32)) * downsample
        density = np.zeros((height, width), np.float32)
        for cx, cy, radius in self._blobs:
            density += np.exp(-(((xs[None, :] - cx) ** 2 + (ys[:, None] - cy) ** 2)
                                / radius ** 2))
        tissue = np.clip(density * 1.6 - 0.3, 0, 1)[..., None]
        rng = np.random.default_rng(noise_seed)
        dots = rng.random((height // 4 + 1, width // 4 + 1)) > 0.78
        nuclei = np.kron(dots, np.ones((4, 4)))[:height, :width, None] * tissue
        colour = GLASS * (1 - tissue) + PINK * tissue
        colour = colour * (1 - nuclei) + PURPLE * nuclei
        colour += rng.normal(0, 10, colour.shape).astype(np.float32) * (0.3 + tissue)
        return np.clip(colour, 0, 255).astype(np.uint8)

    def _encode(self, pixels: np.ndarray) -> bytes:
        if self.spec.codec is Codec.JPEG2000:
            return bytes(imagecodecs.jpeg2k_encode(pixels, level=self.spec.quality,
                                                   codecformat="j2k"))
        colour = "rgb" if self.spec.rgb_jpeg else "ycbcr"
        full = bytes(imagecodecs.jpeg8_encode(pixels, level=self.spec.quality,
                                              outcolorspace=colour, subsampling="422"))
        return _as_read_from_svs(full, self.spec.rgb_jpeg)

    def read_frame(self, level: int, tile_x: int, tile_y: int) -> bytes | None:
        """Generate and encode one tile."""
        if level == 0 and (tile_x, tile_y) in self.spec.missing:
            return None
        lvl = self.levels[level]
        seed = self.spec.seed * 1_000_003 + level * 7919 + tile_y * lvl.tiles_across + tile_x
        pool = self.spec.tile_pool
        if pool and level == 0:
            key = seed % pool
            if key not in self._pool:
                self._pool[key] = self._tile(lvl, tile_x, tile_y, seed)
            return self._pool[key]
        return self._tile(lvl, tile_x, tile_y, seed)

    def _tile(self, lvl: Level, tile_x: int, tile_y: int, seed: int) -> bytes:
        pixels = self.pixels(lvl.downsample, tile_x * lvl.tile_width, tile_y * lvl.tile_height,
                             lvl.tile_width, lvl.tile_height, seed)
        return self._encode(pixels)

    def read_row(self, level: int, tile_y: int) -> list[bytes | None]:
        """Every tile of a row."""
        return [self.read_frame(level, x, tile_y) for x in range(self.levels[level].tiles_across)]

    def present_tiles(self, level: int) -> Iterator[tuple[int, int]]:
        """Every tile except the ones ``spec.missing`` removes from the base level."""
        lvl = self.levels[level]
        for tile_y in range(lvl.tiles_down):
            for tile_x in range(lvl.tiles_across):
                if level or (tile_x, tile_y) not in self.spec.missing:
                    yield tile_x, tile_y

    def level_bytes(self, level: int) -> int:
        """An estimate (45 KB a tile)."""
        return self.levels[level].tile_count * 45_000

    def associated(self, kind: Associated) -> np.ndarray | None:
        """Thumbnail and macro from the tissue, a label with a barcode-like bar pattern
        (unless the slide was given its own label or overview)."""
        if kind is Associated.LABEL and self._label is not None:
            return self._label
        if kind is Associated.OVERVIEW and self._overview is not None:
            return self._overview
        if kind is Associated.LABEL:
            label = np.full((300, 400, 3), 250, np.uint8)
            bars = np.random.default_rng(self.spec.seed).random(60) > 0.5
            for i, dark in enumerate(bars):
                if dark:
                    label[60:200, 40 + 5 * i:44 + 5 * i] = 10
            return label
        scale = max(self.spec.width, self.spec.height) / (1024 if kind is Associated.THUMBNAIL
                                                          else 768)
        width, height = int(self.spec.width / scale), int(self.spec.height / scale)
        return self.pixels(scale, 0, 0, width, height, self.spec.seed)

    def close(self) -> None:
        """Nothing to release."""


def _as_read_from_svs(full: bytes, rgb: bool) -> bytes:
    """Re-arrange libjpeg output the way an Aperio tile reads back: SOI, tables, the rest,
    without JFIF/Adobe markers (RGB frames then get slidepacs' own RGB marker)."""
    tables, rest = bytearray(), bytearray()
    end = 2
    for seg in jpeg.segments(full):
        end = seg.end
        if seg.marker in (0xDB, 0xC4):
            tables += full[seg.start:seg.end]
        elif seg.marker not in (0xE0, 0xEE):
            rest += full[seg.start:seg.end]
    frame = jpeg.SOI + bytes(tables) + bytes(rest) + full[end:]
    return jpeg.add_rgb_marker(frame) if rgb else frame


def make_svs(path: Path, spec: SlideSpec | None = None) -> Path:
    """Generate a slide and write it as SVS at ``path``."""
    return write_svs(SyntheticSlide(spec or SlideSpec()), path)
