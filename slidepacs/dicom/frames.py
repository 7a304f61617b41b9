"""Frame maps: where each frame of an instance lies in its stored file, packed for the index.

A frame is one or more pieces, (offset, length) byte ranges of the file in file order:
native Pixel Data holds frames back to back, each ``rows × columns × samples × bits / 8``
bytes; encapsulated Pixel Data (PS3.5 A.4) holds each frame in one or more fragments, grouped
by the Basic Offset Table when a frame spans several. Reading a frame is then one positioned
read per piece, without parsing the file. Where the pieces cannot be told from the layout
alone (several fragments per frame without an offset table, single-bit pixels, a value too
short for its frames) there is no map, and readers parse the file instead.
"""

from __future__ import annotations

import struct
import sys
from array import array
from collections.abc import Sequence
from dataclasses import dataclass

from slidepacs.dicom.layout import PixelLayout
from slidepacs.errors import InvalidInput

Piece = tuple[int, int]  # (offset, length) in the file

_HEADER = struct.Struct("<BBII")  # format version, kind, pieces, frames
_VERSION = 1
_ONE_PIECE_PER_FRAME, _GROUPED = 0, 1
_SWAP = sys.byteorder == "big"  # packed maps are little-endian


@dataclass(frozen=True, slots=True)
class FrameGeometry:
    """What the header says about the frames (None where an attribute is absent)."""

    number_of_frames: int | None
    rows: int | None
    columns: int | None
    samples_per_pixel: int | None
    bits_allocated: int | None
    photometric_interpretation: str = ""

    @property
    def frames(self) -> int:
        """Number of Frames; 1 when absent (a single-frame image)."""
        return self.number_of_frames if self.number_of_frames is not None else 1

    @property
    def frame_size(self) -> int | None:
        """Bytes of one native frame; None when unknown or not whole bytes (single-bit)."""
        rows, columns = self.rows or 0, self.columns or 0
        samples, bits = self.samples_per_pixel or 0, self.bits_allocated or 0
        if min(rows, columns, samples, bits) <= 0 or bits % 8:
            return None
        if self.photometric_interpretation == "YBR_FULL_422" and samples == 3:
            samples = 2  # PS3.3 C.7.6.3.1.2: two chrominance values shared by two pixels
        return rows * columns * samples * bits // 8


@dataclass(frozen=True, slots=True, eq=False)
class FrameMap:
    """Every frame's pieces: frame ``i`` (0-based) is pieces ``starts[i]`` up to
    ``starts[i + 1]`` (or the last piece); ``starts`` is None when each frame is one piece."""

    offsets: array[int]  # "Q": file offset of each piece
    lengths: array[int]  # "I": bytes of each piece
    starts: array[int] | None = None  # "I": per frame, index of its first piece

    def __len__(self) -> int:
        return len(self.offsets) if self.starts is None else len(self.starts)

    @property
    def nbytes(self) -> int:
        """Memory the map's arrays hold."""
        starts = 0 if self.starts is None else len(self.starts)
        return 12 * len(self.offsets) + 4 * starts

    def pieces(self, index: int) -> tuple[Piece, ...]:
        """The (offset, length) pieces of frame ``index`` (0-based), in file order."""
        if not 0 <= index < len(self):
            raise IndexError(f"frame index {index} out of range 0..{len(self) - 1}")
        if self.starts is None:
            return ((self.offsets[index], self.lengths[index]),)
        first = self.starts[index]
        end = self.starts[index + 1] if index + 1 < len(self.starts) else len(self.offsets)
        return tuple(zip(self.offsets[first:end], self.lengths[first:end]))

    def frame_ranges(self) -> list[list[Piece]]:
        """Every frame's pieces (for tests and tools; costs a list per frame)."""
        return [list(self.pieces(i)) for i in range(len(self))]

    def shifted(self, by: int) -> FrameMap:
        """The same map for a file with ``by`` bytes more before the data set."""
        if not by:
            return self
        return FrameMap(array("Q", (o + by for o in self.offsets)), self.lengths, self.starts)

    def pack(self) -> bytes:
        """The map as compact bytes for the index (12 bytes a piece, 4 more a frame when
        frames span several pieces)."""
        kind = _ONE_PIECE_PER_FRAME if self.starts is None else _GROUPED
        parts = [self.offsets, self.lengths] + ([self.starts] if self.starts is not None else [])
        if _SWAP:  # pragma: no cover - big-endian hosts
            parts = [array(p.typecode, p) for p in parts]
            for part in parts:
                part.byteswap()
        header = _HEADER.pack(_VERSION, kind, len(self.offsets), len(self))
        return header + b"".join(part.tobytes() for part in parts)

    @classmethod
    def unpack(cls, data: bytes) -> FrameMap:
        """The map :meth:`pack` made; InvalidInput if ``data`` is not one."""
        if len(data) < _HEADER.size:
            raise InvalidInput("frame map is too short")
        version, kind, pieces, frames = _HEADER.unpack_from(data)
        grouped = kind == _GROUPED
        expected = _HEADER.size + 12 * pieces + (4 * frames if grouped else 0)
        if version != _VERSION or kind not in (_ONE_PIECE_PER_FRAME, _GROUPED) \
                or len(data) != expected or (not grouped and frames != pieces):
            raise InvalidInput(f"not a version {_VERSION} frame map ({len(data)} bytes)")
        view = memoryview(data)[_HEADER.size:]
        offsets, lengths = _typed("Q", view[:8 * pieces]), _typed("I", view[8 * pieces:12 * pieces])
        starts = _typed("I", view[12 * pieces:]) if grouped else None
        return cls(offsets, lengths, starts)


def _typed(typecode: str, data: memoryview) -> array[int]:
    values = array(typecode)
    if values.itemsize != {"Q": 8, "I": 4}[typecode]:  # pragma: no cover - exotic platforms
        raise InvalidInput("frame maps need 4-byte unsigned ints")
    values.frombytes(data)
    if _SWAP:  # pragma: no cover - big-endian hosts
        values.byteswap()
    return values


def no_frames() -> FrameMap:
    """The map of an instance without Pixel Data: zero frames."""
    return FrameMap(array("Q"), array("I"))


def needs_offset_table(layout: PixelLayout, geometry: FrameGeometry) -> bool:
    """True when the frames of ``layout`` can only be told apart by its Basic Offset Table."""
    fragments = len(layout.fragment_offsets)
    return (layout.encapsulated and geometry.frames > 1 and fragments > geometry.frames
            and layout.offset_table is not None and layout.offset_table[1] > 0)


def frame_map(
    layout: PixelLayout | None, geometry: FrameGeometry, offset_table: Sequence[int] = ()
) -> FrameMap | None:
    """Where each frame lies, from where the Pixel Data lies and what the header says;
    None when that cannot be decided without parsing the frames.

    ``offset_table``: the Basic Offset Table's entries, needed only when
    :func:`needs_offset_table` says so.
    """
    if layout is None:
        return no_frames()
    if geometry.frames < 1:
        return None
    if not layout.encapsulated:
        return _native(layout, geometry)
    return _encapsulated(layout, geometry, offset_table)


def _native(layout: PixelLayout, geometry: FrameGeometry) -> FrameMap | None:
    """Frames back to back from the start of the value (a trailing pad byte is allowed)."""
    size, frames = geometry.frame_size, geometry.frames
    if layout.value is None or size is None or size * frames > layout.value[1]:
        return None
    start = layout.value[0]
    return FrameMap(array("Q", range(start, start + size * frames, size)),
                    array("I", [size]) * frames)


def _encapsulated(
    layout: PixelLayout, geometry: FrameGeometry, offset_table: Sequence[int]
) -> FrameMap | None:
    """One fragment per frame, all fragments in one frame, or frames grouped by the BOT."""
    fragments, frames = len(layout.fragment_offsets), geometry.frames
    if fragments == 0 or fragments < frames:
        return None
    offsets, lengths = layout.fragment_offsets, layout.fragment_lengths  # shared, never changed
    if fragments == frames:
        return FrameMap(offsets, lengths)
    if frames == 1:
        return FrameMap(offsets, lengths, array("I", [0]))
    starts = _starts_from_offset_table(layout, frames, offset_table)
    return None if starts is None else FrameMap(offsets, lengths, starts)


def _starts_from_offset_table(
    layout: PixelLayout, frames: int, offset_table: Sequence[int]
) -> array[int] | None:
    """Each frame's first fragment, from BOT offsets (from the first fragment's item tag);
    None unless the table has one entry per frame, each at the start of a fragment item."""
    if len(offset_table) != frames:
        return None
    base = layout.fragment_offsets[0] - 8
    first_fragment = {offset - 8 - base: index
                      for index, offset in enumerate(layout.fragment_offsets)}
    starts = array("I")
    for entry in offset_table:
        index = first_fragment.get(entry)
        if index is None or (starts and index <= starts[-1]):
            return None
        starts.append(index)
    return starts if starts[0] == 0 else None
