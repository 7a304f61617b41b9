"""Rendered images of stored instances (WADO-RS rendered and thumbnail resources): a frame
of a radiology image through its LUTs, or a region of a whole-slide level at a scale.

A whole-slide level is never decoded whole: only the tiles the asked region touches are read
(positioned reads through the frame service) and decoded, one at a time, each folded into
the output by the resampler, so memory holds the output plus about one tile row. Where each
tile of a TILED_SPARSE level lies is read once from its header and kept in a small cache.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Generator, Iterator, Mapping
from contextlib import closing
from dataclasses import dataclass
from typing import cast

import numpy as np
from pydicom.dataset import Dataset

from slidepacs.domain.query import Level, Query, SingleValue, parse_condition
from slidepacs.domain.rendering import (
    NotRenderable,
    Region,
    RenderParams,
    check_tile_count,
    output_size,
    source_region,
)
from slidepacs.errors import InvalidInput, NotFound, StorageFailure
from slidepacs.imaging import codecs
from slidepacs.imaging.resample import Resampler
from slidepacs.imaging.voi import display_frame
from slidepacs.index.find import MatchRow
from slidepacs.services.frames import FrameService
from slidepacs.services.query import QueryService
from slidepacs.services.retrieve import RetrieveItem, RetrieveService

WSI_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.77.1.6"
SLIDE_BACKGROUND = 255  # glass: missing tiles and what lies beyond a level are white
IMAGE_BACKGROUND = 0
STRIP_ROWS = 256  # a decoded radiology frame is resampled this many rows at a time
CACHED_GRIDS = 64
CACHED_POSITIONS = 2_000_000  # sparse tile positions kept over all cached grids
FrameReads = Generator[tuple[int, bytes], None, None]  # FrameService.read_all is one


@dataclass(frozen=True, slots=True)
class RenderTarget:
    """A stored instance to render, and which frame (None: the whole instance — every tile
    of a slide level, the first frame of another image)."""

    item: RetrieveItem
    study_instance_uid: str
    series_instance_uid: str
    frame: int | None = None

    @property
    def is_slide(self) -> bool:
        """True for a VL Whole Slide Microscopy instance (rendered from its tiles)."""
        return self.item.sop_class_uid == WSI_SOP_CLASS


@dataclass(frozen=True, slots=True)
class TileGrid:
    """How the frames of a whole-slide instance tile its total pixel matrix."""

    px_width: int
    px_height: int
    tile_width: int
    tile_height: int
    samples: int
    photometric: str
    planar: bool
    frame_count: int
    positions: Mapping[tuple[int, int], int] | None = None  # TILED_SPARSE: tile → frame

    @property
    def tiles_across(self) -> int:
        """Tile columns (edge tiles included)."""
        return math.ceil(self.px_width / self.tile_width)

    def frame_number(self, tile_x: int, tile_y: int) -> int | None:
        """The frame (from 1) holding a tile of the first focal plane and optical path;
        None for a tile the instance lacks."""
        if self.positions is not None:
            return self.positions.get((tile_x, tile_y))
        number = tile_y * self.tiles_across + tile_x + 1
        return number if number <= self.frame_count else None


class RenderService:
    """Renders stored images as 8-bit JPEG or PNG."""

    def __init__(self, retrieve: RetrieveService, frames: FrameService, query: QueryService,
                 grids: GridCache | None = None) -> None:
        self._retrieve = retrieve
        self._frames = frames
        self._query = query
        self._grids = grids if grids is not None else GridCache()

    def target(self, study: str, series: str, sop: str, frame: int | None = None
               ) -> RenderTarget:
        """The instance (and frame) a rendered request names; NotFound when not stored."""
        [item] = self._retrieve.instances(study, series, sop)
        return RenderTarget(item, study, series, frame)

    def thumbnail_target(self, study: str, series: str = "") -> RenderTarget:
        """What stands for a series (or a study's first image series) in a thumbnail: a
        slide's THUMBNAIL image, else its OVERVIEW, else its smallest level; for other
        images the middle instance (its middle frame)."""
        rows = [row for row in self._query.find(_image_query(study, series)) if row.get("Rows")]
        if not rows:
            raise NotFound(f"no image instances in {'series ' + series if series else 'study'}"
                           f" {series or study}")
        first_series = rows[0]["SeriesInstanceUID"]
        row, frame = _representative([r for r in rows
                                      if r["SeriesInstanceUID"] == first_series])
        return self.target(study, first_series, row["SOPInstanceUID"], frame)

    def instance_thumbnail_target(self, study: str, series: str, sop: str) -> RenderTarget:
        """What stands for an instance in a thumbnail: itself, except that a slide's pyramid
        level is shown by the slide's thumbnail (the same picture, already small)."""
        target = self.target(study, series, sop)
        if target.is_slide and any("VOLUME" in _flavours(row) for row in self._query.find(
                _image_query(study, series)) if row["SOPInstanceUID"] == sop):
            return self.thumbnail_target(study, series)
        return target

    def grid(self, target: RenderTarget) -> TileGrid:
        """How the frames of a whole-slide instance tile it (read once, then cached)."""
        return self._grid(target)

    def render(self, target: RenderTarget, params: RenderParams) -> bytes:
        """The target as a JPEG or PNG file shaped by ``params``."""
        pixels = self._slide(target, params) if target.is_slide else self._image(target, params)
        return codecs.encode(pixels, params.media_type, params.quality)

    def _image(self, target: RenderTarget, params: RenderParams) -> np.ndarray:
        """A frame of a non-tiled image through its LUTs, resampled."""
        item = target.item
        header = self._retrieve.metadata(item)
        number = _checked_frame(target.frame or 1, int(header.get("NumberOfFrames", 1) or 1))
        display = display_frame(item.path, header, number - 1, params.window,
                                lambda: self._encoded(target, number))
        height, width = display.shape[:2]
        region = source_region(params.viewport, width, height)
        size = output_size(params.viewport, region)
        blocks = ((display[y:y + STRIP_ROWS], 0, y) for y in range(0, height, STRIP_ROWS))
        return _resample(blocks, region, (width, height), size,
                         (display.shape[2], IMAGE_BACKGROUND))

    def _slide(self, target: RenderTarget, params: RenderParams) -> np.ndarray:
        """A region of a whole-slide instance (or one of its frames), from its tiles."""
        grid = self._grid(target)
        if target.frame is not None:
            number = _checked_frame(target.frame, grid.frame_count)
            grid = TileGrid(grid.tile_width, grid.tile_height, grid.tile_width,
                            grid.tile_height, grid.samples, grid.photometric, grid.planar,
                            grid.frame_count, {(0, 0): number})
        region = source_region(params.viewport, grid.px_width, grid.px_height)
        size = output_size(params.viewport, region)
        blocks = self._tiles(target, grid, region)
        return _resample(blocks, region, (grid.px_width, grid.px_height), size,
                         (grid.samples, SLIDE_BACKGROUND))

    def _tiles(self, target: RenderTarget, grid: TileGrid, region: Region
               ) -> Iterator[tuple[np.ndarray, int, int]]:
        """Decoded tiles (cropped to the level) over the region, row by row."""
        right, bottom = min(region.right, grid.px_width), min(region.bottom, grid.px_height)
        columns = range(region.x // grid.tile_width, (right - 1) // grid.tile_width + 1)
        rows = range(region.y // grid.tile_height, (bottom - 1) // grid.tile_height + 1)
        check_tile_count(len(columns) * len(rows), region)
        numbers = [grid.frame_number(x, y) for y in rows for x in columns]
        present = [n for n in numbers if n is not None]
        frames = cast(FrameReads, self._frames.read_all(self._frames.locate(
            target.study_instance_uid, target.series_instance_uid,
            target.item.sop_instance_uid, present))) if present else _no_frames()
        blank = np.full((grid.tile_height, grid.tile_width, grid.samples), SLIDE_BACKGROUND,
                        np.uint8)
        with closing(frames):  # the file is closed even when a tile cannot be decoded
            for position, number in enumerate(numbers):
                tile_y, tile_x = divmod(position, len(columns))
                x, y = columns[tile_x] * grid.tile_width, rows[tile_y] * grid.tile_height
                pixels = blank if number is None else self._decode_tile(
                    next(frames)[1], grid, target.item.transfer_syntax_uid)
                yield pixels[:grid.px_height - y, :grid.px_width - x], x, y

    @staticmethod
    def _decode_tile(frame: bytes, grid: TileGrid, syntax: str) -> np.ndarray:
        if syntax in codecs.NATIVE:
            return codecs.native_frame(frame, grid.tile_height, grid.tile_width, grid.samples,
                                       grid.planar)
        pixels = codecs.decode_frame(frame, syntax, grid.photometric)
        if pixels.dtype != np.uint8:
            raise NotRenderable(f"tiles of {pixels.dtype.itemsize * 8} bits per sample")
        pixels = pixels.reshape(*pixels.shape[:2], -1)[..., :grid.samples]
        if pixels.shape[2] < grid.samples:
            pixels = np.repeat(pixels, grid.samples, axis=2)
        return pixels

    def _encoded(self, target: RenderTarget, number: int) -> bytes:
        location = self._frames.locate(target.study_instance_uid, target.series_instance_uid,
                                       target.item.sop_instance_uid, [number])
        return self._frames.read(location, number)

    def _grid(self, target: RenderTarget) -> TileGrid:
        key = str(target.item.path)
        grid = self._grids.get(key)
        if grid is None:
            grid = tile_grid(self._retrieve.metadata(target.item))
            self._grids.put(key, grid)
        return grid


def _no_frames() -> FrameReads:
    yield from ()


def tile_grid(ds: Dataset) -> TileGrid:
    """The tile grid of a whole-slide instance's header."""
    if "Rows" not in ds or "Columns" not in ds:
        raise NotRenderable("the whole-slide instance has no image (no Rows / Columns)")
    rows, columns = int(ds.Rows), int(ds.Columns)
    positions = None
    if str(ds.get("DimensionOrganizationType", "")).upper() == "TILED_SPARSE":
        positions = _sparse_positions(ds, columns, rows)
    return TileGrid(
        px_width=int(ds.get("TotalPixelMatrixColumns") or columns),
        px_height=int(ds.get("TotalPixelMatrixRows") or rows),
        tile_width=columns, tile_height=rows, samples=int(ds.get("SamplesPerPixel", 1)),
        photometric=str(ds.get("PhotometricInterpretation", "RGB")).strip(),
        planar=int(ds.get("PlanarConfiguration", 0) or 0) == 1,
        frame_count=int(ds.get("NumberOfFrames", 1) or 1), positions=positions)


def _sparse_positions(ds: Dataset, tile_width: int, tile_height: int
                      ) -> dict[tuple[int, int], int]:
    """(tile column, tile row) → frame number from each frame's Plane Position (Slide); the
    first frame at a position wins (the first focal plane / optical path)."""
    positions: dict[tuple[int, int], int] = {}
    for number, group in enumerate(ds.get("PerFrameFunctionalGroupsSequence", []), start=1):
        try:
            plane = group.PlanePositionSlideSequence[0]
            column = int(plane.ColumnPositionInTotalImagePixelMatrix) - 1
            row = int(plane.RowPositionInTotalImagePixelMatrix) - 1
        except (AttributeError, IndexError, TypeError, ValueError):
            raise StorageFailure(f"frame {number} of a TILED_SPARSE instance has no usable "
                                 "Plane Position (Slide)") from None
        positions.setdefault((column // tile_width, row // tile_height), number)
    return positions


def _resample(blocks: Iterator[tuple[np.ndarray, int, int]], region: Region,
              image_size: tuple[int, int], size: tuple[int, int],
              pixel: tuple[int, int]) -> np.ndarray:
    """Fold row-major blocks into an output of ``size``; ``pixel`` is (channels,
    background)."""
    channels, background = pixel
    resampler = Resampler(region, image_size, size, channels, background)
    row = None
    for pixels, x, y in blocks:
        if row is not None and y != row:
            resampler.advance(y)
        row = y
        resampler.add(pixels, x, y)
    return resampler.result()


def _checked_frame(number: int, count: int) -> int:
    if not 1 <= number <= count:
        raise NotFound(f"instance has no frame {number} (its frames are 1 to {count})")
    return number


def _image_query(study: str, series: str) -> Query:
    """The instances of a study, or of one of its series."""
    conditions = []
    for keyword, uid in (("StudyInstanceUID", study), ("SeriesInstanceUID", series)):
        if uid:
            condition = parse_condition(keyword, uid)
            if condition is None or not isinstance(condition.match, SingleValue):
                raise InvalidInput(f"{keyword} {uid!r} is not one UID")
            conditions.append(condition)
    return Query(Level.IMAGE, tuple(conditions))


def _representative(rows: list[MatchRow]) -> tuple[MatchRow, int | None]:
    """The instance (and frame) standing for a series in its thumbnail."""
    slides = [row for row in rows if row.get("SOPClassUID") == WSI_SOP_CLASS]
    if slides:
        for flavour in ("THUMBNAIL", "OVERVIEW"):
            for row in slides:
                if flavour in _flavours(row):
                    return row, None
        levels = [row for row in slides if "VOLUME" in _flavours(row)]
        if levels:
            return min(levels, key=_level_area), None
    middle = rows[len(rows) // 2]
    frames = int(middle.get("NumberOfFrames") or 1)
    return middle, (frames // 2 + 1 if frames > 1 else None)


def _flavours(row: MatchRow) -> list[str]:
    """The values of an instance's Image Type (indexed backslash-separated)."""
    return str(row.get("ImageType") or "").upper().split("\\")


def _level_area(row: MatchRow) -> int:
    return int(row.get("TotalPixelMatrixColumns") or row.get("Columns") or 0) * int(
        row.get("TotalPixelMatrixRows") or row.get("Rows") or 0)


class GridCache:
    """The most recently used tile grids by storage path, bounded in number and in sparse
    positions held; safe to share between threads (stored files never change)."""

    def __init__(self, entries: int = CACHED_GRIDS, positions: int = CACHED_POSITIONS) -> None:
        self._entries = entries
        self._limit = positions
        self._grids: OrderedDict[str, TileGrid] = OrderedDict()
        self._held = 0
        self._lock = threading.Lock()

    def get(self, path: str) -> TileGrid | None:
        """The grid cached for ``path``, or None."""
        with self._lock:
            grid = self._grids.get(path)
            if grid is not None:
                self._grids.move_to_end(path)
            return grid

    def put(self, path: str, grid: TileGrid) -> None:
        """Remember a grid, dropping the least recently used beyond the bounds."""
        with self._lock:
            old = self._grids.pop(path, None)
            self._held += _weight(grid) - (_weight(old) if old else 0)
            self._grids[path] = grid
            while len(self._grids) > self._entries or (self._held > self._limit
                                                       and len(self._grids) > 1):
                _, dropped = self._grids.popitem(last=False)
                self._held -= _weight(dropped)


def _weight(grid: TileGrid) -> int:
    return len(grid.positions) if grid.positions is not None else 0

