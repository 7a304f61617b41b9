"""Resampling a source region into an output image, fed one block (tile) at a time.

The filter is separable and linear: a triangle (bilinear) kernel widened by the scale when
shrinking, so it averages every source pixel under an output pixel (antialiased, as
Pillow's BILINEAR), and interpolates when enlarging. Weights are normalised over the source
pixels that exist inside the region, so a 1:1 region comes out unchanged and output pixels
whose centre lies beyond the image get the background.

Blocks arrive in row-major order (all blocks of a tile row before the next); each adds its
weighted contribution to the output rows it touches, and :meth:`Resampler.advance` turns
rows no later block can touch into 8-bit pixels. Memory: the output plus a float buffer of
the rows still open (about one tile row's worth), whatever the region's size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from slidepacs.domain.rendering import Region


@dataclass(frozen=True, slots=True)
class AxisWeights:
    """Weights along one axis: output pixel ``o`` takes source pixels ``first[o] + k`` with
    weights ``weight[o, k]`` (k < taps; trailing weights are 0)."""

    first: np.ndarray  # int64, one per output pixel
    weight: np.ndarray  # float32, outputs × taps
    inside: np.ndarray  # bool, the output pixel's centre lies on the image

    @property
    def last(self) -> np.ndarray:
        """One past the last source pixel each output pixel takes."""
        return self.first + self.weight.shape[1]

    def span(self, start: int, stop: int) -> tuple[int, int]:
        """The outputs [lo, hi) that take any of the source pixels [start, stop)."""
        lo = int(np.searchsorted(self.last, start, side="right"))
        hi = int(np.searchsorted(self.first, stop, side="left"))
        return lo, max(lo, hi)


def axis_weights(start: int, length: int, size: int, outputs: int) -> AxisWeights:
    """Weights mapping source pixels [start, start + length) of an axis ``size`` pixels long
    onto ``outputs`` pixels (pixels beyond ``size`` do not exist)."""
    scale = length / outputs
    widen = max(scale, 1.0)
    centres = start + (np.arange(outputs) + 0.5) * scale
    low, high = start, min(start + length, size)
    taps = int(math.ceil(2 * widen)) + 2
    first = np.clip(np.floor(centres - widen).astype(np.int64), low, max(low, high - 1))
    sources = first[:, None] + np.arange(taps)[None, :]
    weight = np.maximum(0.0, 1.0 - np.abs((sources + 0.5 - centres[:, None]) / widen))
    weight[sources >= high] = 0.0
    inside = centres < high
    weight[~inside] = 0.0
    totals = weight.sum(axis=1, keepdims=True)
    weight = np.divide(weight, totals, out=np.zeros_like(weight), where=totals > 0)
    return AxisWeights(first, weight.astype(np.float32), inside)


def _along_rows(axis: AxisWeights, block: np.ndarray, start: int) -> tuple[int, np.ndarray]:
    """(first output, contributions) of ``block`` (contiguous; its first dimension holds
    source pixels from ``start``) to the outputs that take them."""
    count = block.shape[0]
    lo, hi = axis.span(start, start + count)
    offsets = axis.first[lo:hi, None] - start + np.arange(axis.weight.shape[1])[None, :]
    weights = np.where((offsets >= 0) & (offsets < count), axis.weight[lo:hi], np.float32(0))
    offsets = np.clip(offsets, 0, count - 1)
    needed = weights.any(axis=0)  # taps no output uses here (e.g. at 1:1) are dropped
    weights, offsets = weights[:, needed], offsets[:, needed]
    # gather each output's taps, then sum them weighted; einsum, not a matrix product:
    # BLAS's thread pool costs more than these small products on a busy machine
    taps = block.reshape(count, -1)[offsets]
    summed = np.einsum("ok,okr->or", weights, taps, dtype=np.float32)
    return lo, summed.reshape((hi - lo, *block.shape[1:]))


class Resampler:
    """Builds a ``width`` × ``height`` output (channels last) of a source region."""

    def __init__(self, region: Region, image_size: tuple[int, int],
                 output: tuple[int, int], channels: int, background: int) -> None:
        self.region = region
        width, height = output
        self._x = axis_weights(region.x, region.width, image_size[0], width)
        self._y = axis_weights(region.y, region.height, image_size[1], height)
        self._out = np.full((height, width, channels), background, np.uint8)
        self._open = np.zeros((0, width, channels), np.float32)  # output rows [lo, lo + n)
        self._lo = 0
        self._background = background
        self._copy = (region.width, region.height) == (width, height)  # 1:1, pasted as is

    def add(self, pixels: np.ndarray, x: int, y: int) -> None:
        """Add a block of source pixels (rows × columns × channels) whose top-left pixel is
        at (``x``, ``y``); parts outside the region are ignored."""
        region = self.region
        left, top = max(x, region.x), max(y, region.y)
        right = min(x + pixels.shape[1], region.right)
        bottom = min(y + pixels.shape[0], region.bottom)
        if left >= right or top >= bottom:
            return
        block = pixels[top - y:bottom - y, left - x:right - x]
        if self._copy:
            self._out[top - region.y:bottom - region.y, left - region.x:right - region.x] = block
            return
        row0, rows = _along_rows(self._y, np.ascontiguousarray(block), top)
        col0, both = _along_rows(self._x, np.ascontiguousarray(rows.swapaxes(0, 1)), left)
        self._accumulate(row0, col0, both.swapaxes(0, 1))

    def advance(self, source_row: int) -> None:
        """No block will bring source rows above ``source_row`` any more: finish the output
        rows that only take those."""
        done = int(np.searchsorted(self._y.last, source_row, side="right"))
        if done > self._lo and not self._copy:
            self._finish(done)

    def result(self) -> np.ndarray:
        """The output (height × width × channels, uint8), once every block is added."""
        if not self._copy:
            self._finish(self._out.shape[0])
        return self._out

    def _accumulate(self, row0: int, col0: int, values: np.ndarray) -> None:
        if row0 < self._lo:
            raise ValueError("blocks must arrive in row-major order")
        needed = row0 + values.shape[0] - self._lo
        if needed > self._open.shape[0]:
            grow = np.zeros((needed - self._open.shape[0], *self._open.shape[1:]), np.float32)
            self._open = np.concatenate([self._open, grow])
        start = row0 - self._lo
        self._open[start:start + values.shape[0], col0:col0 + values.shape[1]] += values

    def _finish(self, done: int) -> None:
        """Rows [lo, done) become 8-bit; those no block reached keep the background."""
        lo = self._lo
        count = min(done - lo, self._open.shape[0])
        if count > 0:
            rows = np.clip(np.rint(self._open[:count]), 0, 255).astype(np.uint8)
            self._out[lo:lo + count] = rows
            self._open = self._open[count:]
        self._lo = done
        finished = self._out[lo:done]
        finished[~self._y.inside[lo:done]] = self._background
        finished[:, ~self._x.inside] = self._background
