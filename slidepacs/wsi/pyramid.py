"""Pyramid completion: levels a slide lacks, computed by halving the level above, row by row.

Decoded pixels of the source level arrive one tile row at a time; each derived level keeps
only one tile row of its own pixels, halves what it receives, emits its finished tile rows
to its writer and hands the halved rows on to the next level. Memory is therefore about one
tile row of the source plus one of each derived level, whatever the slide's height.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from slidepacs.wsi import codec as frame_codec
from slidepacs.wsi.model import Codec, Level

WHITE = 255
FrameSink = Callable[[bytes], None]
Mapper = Callable[..., Iterable[Any]]  # map, or an executor's map (frames keep their order)


def derived_level(parent: Level) -> Level:
    """The level half the size of ``parent`` (odd sizes round up), same tiles and codec."""
    photometric = "YBR_ICT" if parent.codec is Codec.JPEG2000 else parent.photometric
    return Level(
        px_width=math.ceil(parent.px_width / 2), px_height=math.ceil(parent.px_height / 2),
        tile_width=parent.tile_width, tile_height=parent.tile_height, codec=parent.codec,
        photometric=photometric, downsample=parent.downsample * 2, derived=True,
    )


def fits_one_tile(level: Level) -> bool:
    """True when a level is small enough to end a pyramid."""
    return level.px_width <= level.tile_width and level.px_height <= level.tile_height


def missing_below(parent: Level, existing: list[float]) -> list[Level]:
    """Levels to derive from ``parent``: halvings until the next existing level or one tile."""
    chain: list[Level] = []
    level = parent
    while not fits_one_tile(level):
        level = derived_level(level)
        if any(abs(d / level.downsample - 1) < 0.02 or d < level.downsample
               for d in existing if d > parent.downsample):
            break
        chain.append(level)
    return chain


def halve(pixels: np.ndarray) -> np.ndarray:
    """2 × 2 box filter; an odd last row or column is repeated first."""
    if pixels.shape[0] % 2:
        pixels = np.concatenate([pixels, pixels[-1:]], axis=0)
    if pixels.shape[1] % 2:
        pixels = np.concatenate([pixels, pixels[:, -1:]], axis=1)
    summed = pixels[0::2, 0::2].astype(np.uint16)
    summed += pixels[1::2, 0::2]
    summed += pixels[0::2, 1::2]
    summed += pixels[1::2, 1::2]
    summed += 2
    return (summed >> 2).astype(np.uint8)


@dataclass
class _Stage:
    level: Level
    sink: FrameSink
    buffer: np.ndarray
    filled: int = 0
    pending: np.ndarray | None = None  # an odd parent row waiting for its pair


class PyramidBuilder:
    """Feeds derived levels from a parent's pixel rows; call :meth:`push` then :meth:`finish`."""

    def __init__(self, parent: Level, levels: list[Level], sinks: list[FrameSink],
                 quality: int, mapper: Mapper = map) -> None:
        self._parent_width = parent.px_width
        self._quality = quality
        self._map = mapper
        self._stages = [
            _Stage(level, sink, np.full((level.tile_height, level.px_width, 3), WHITE, np.uint8))
            for level, sink in zip(levels, sinks)
        ]

    def push(self, rows: np.ndarray) -> None:
        """The parent's next pixel rows, top to bottom, each as wide as the parent level."""
        self._feed(0, rows, final=False)

    def finish(self) -> None:
        """Flush every level: halve leftover rows and emit partly filled tile rows."""
        self._feed(0, np.empty((0, self._parent_width, 3), np.uint8), final=True)

    def _feed(self, index: int, rows: np.ndarray, final: bool) -> None:
        if index == len(self._stages):
            return
        stage = self._stages[index]
        if stage.pending is not None:
            rows, stage.pending = np.concatenate([stage.pending, rows]), None
        if len(rows) % 2 and not final:
            rows, stage.pending = rows[:-1], rows[-1:]
        halved = halve(rows) if len(rows) else rows[:0, : stage.level.px_width]
        self._feed(index + 1, halved, final)
        while len(halved):
            take = min(len(halved), stage.level.tile_height - stage.filled)
            stage.buffer[stage.filled:stage.filled + take] = halved[:take]
            stage.filled += take
            halved = halved[take:]
            if stage.filled == stage.level.tile_height:
                self._emit(stage)
        if final and stage.filled:
            self._emit(stage)

    def _emit(self, stage: _Stage) -> None:
        level = stage.level
        stage.buffer[stage.filled:] = WHITE

        def encode(tile_x: int) -> bytes:
            x0 = tile_x * level.tile_width
            tile = stage.buffer[:, x0:x0 + level.tile_width]
            if tile.shape[1] < level.tile_width:
                padded = np.full((level.tile_height, level.tile_width, 3), WHITE, np.uint8)
                padded[:, :tile.shape[1]] = tile
                tile = padded
            return frame_codec.encode(np.ascontiguousarray(tile), level.codec,
                                      level.photometric, self._quality)

        for frame in self._map(encode, range(level.tiles_across)):
            stage.sink(frame)
        stage.buffer[:] = WHITE
        stage.filled = 0
