"""Walk a file's elements by their lengths to prove it is complete, without reading values.

pydicom reads the header and stops before Pixel Data, and it silently accepts a value cut
short by the end of the file; this module steps over every element of the data set (header,
sequences, Pixel Data, trailing elements) by their lengths, so a file truncated anywhere is
caught while memory stays constant whatever the file size. On the way it notes where the
top-level Pixel Data value lies (PS3.5 A.4: for encapsulated data, the Basic Offset Table
item and every fragment item), so that frames can later be read without parsing the file.
"""

from __future__ import annotations

import struct
from array import array
from dataclasses import dataclass, field
from typing import BinaryIO

from slidepacs.errors import InvalidInput

_UNDEFINED = 0xFFFFFFFF
_ITEM = (0xFFFE, 0xE000)
_ITEM_END = (0xFFFE, 0xE00D)
_SEQUENCE_END = (0xFFFE, 0xE0DD)
_PREAMBLE_AND_PREFIX = 132
_MAX_DEPTH = 64
_READ_AHEAD = 16 * 1024
_LONG_VRS = {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR",
             b"UT", b"UV"}
# Pixel Data, Float Pixel Data, Double Float Pixel Data
_PIXEL_DATA_TAGS = frozenset({(0x7FE0, 0x0010), (0x7FE0, 0x0008), (0x7FE0, 0x0009)})


@dataclass(frozen=True, slots=True)
class PixelLayout:
    """Where the top-level Pixel Data value lies in a file (byte offsets from its start).

    Native data: ``value`` is the value's (offset, length) and there are no fragments.
    Encapsulated data (undefined length): ``offset_table`` is the (offset, length) of the
    Basic Offset Table item's value (the first item; length 0 when empty), and fragment
    ``i`` is the value of the item after it at ``fragment_offsets[i]``, of
    ``fragment_lengths[i]`` bytes (each past its 8-byte item header).
    """

    value: tuple[int, int] | None = None
    offset_table: tuple[int, int] | None = None
    fragment_offsets: array[int] = field(default_factory=lambda: array("Q"))
    fragment_lengths: array[int] = field(default_factory=lambda: array("I"))

    @property
    def encapsulated(self) -> bool:
        """True for encapsulated (compressed) Pixel Data."""
        return self.value is None


class _Reader:
    """Reads a file forward with our own buffer and position, so that stepping over elements
    costs arithmetic, not a system call per element (``tell``/``seek`` on every header)."""

    def __init__(self, handle: BinaryIO, size: int, position: int) -> None:
        self.handle = handle
        self.size = size
        self.position = position
        self._buffer = b""
        self._buffer_start = position

    def read(self, count: int, what: str) -> bytes:
        """The next ``count`` bytes; InvalidInput if the file ends first."""
        if self.position + count > self.size:
            raise InvalidInput(
                f"file is truncated inside {what} at byte {self.position} of {self.size}"
            )
        offset = self.position - self._buffer_start
        if offset < 0 or offset + count > len(self._buffer):
            self.handle.seek(self.position)
            self._buffer = self.handle.read(max(count, _READ_AHEAD))
            self._buffer_start, offset = self.position, 0
        data = self._buffer[offset:offset + count]
        if len(data) != count:
            raise InvalidInput(
                f"file is truncated inside {what} at byte {self.position} of {self.size}"
            )
        self.position += count
        return data

    def skip(self, length: int, what: str) -> None:
        """Step over ``length`` bytes; InvalidInput if they run past the end of the file."""
        end = self.position + length
        if end > self.size:
            raise InvalidInput(f"file is truncated: {what} needs {end - self.size} more bytes")
        self.position = end


def dataset_start(handle: BinaryIO, size: int, has_meta: bool) -> int:
    """Offset of the data set's first element: after the preamble and File Meta group."""
    if not has_meta:
        return 0
    reader = _Reader(handle, size, _PREAMBLE_AND_PREFIX)
    while reader.position + 2 <= size:
        start = reader.position
        if reader.read(2, "a tag") != b"\x02\x00":
            return start
        reader.position = start
        _element, length, _vr = _read_element_header(reader, False, "<")
        reader.skip(length, f"File Meta element at byte {start}")
    return reader.position


def check_complete(
    handle: BinaryIO, size: int, implicit_vr: bool, little_endian: bool, start: int
) -> PixelLayout | None:
    """Step from ``start`` to the end of the file; raise InvalidInput if it is truncated.

    Returns where the top-level Pixel Data value lies; None without Pixel Data. Encapsulated
    data whose items are not all fragments (an item of undefined length) has no fragments.
    """
    order = "<" if little_endian else ">"
    reader = _Reader(handle, size, start)
    layout: PixelLayout | None = None
    while reader.position < size:
        element_start = reader.position
        tag, length, vr = _read_element_header(reader, implicit_vr, order, strict=True)
        if tag in _PIXEL_DATA_TAGS and vr != b"UN":  # CP-246: UN of undefined length is a SQ
            layout = _step_pixel_data(reader, implicit_vr, order, (tag, length, vr), element_start)
        else:
            _step_value(reader, implicit_vr, order, 0, (tag, length, vr), element_start)
    return layout


def read_offset_table(handle: BinaryIO, layout: PixelLayout, little_endian: bool) -> array[int]:
    """The Basic Offset Table's entries (empty when it is), read in one go."""
    if layout.offset_table is None or not layout.offset_table[1]:
        return array("Q")
    offset, length = layout.offset_table
    handle.seek(offset)
    data = handle.read(length)
    if len(data) != length or length % 4:
        raise InvalidInput(f"Basic Offset Table at byte {offset} is not {length} bytes of offsets")
    order = "<" if little_endian else ">"
    return array("Q", struct.unpack(f"{order}{length // 4}L", data))


def _step_pixel_data(
    reader: _Reader, implicit_vr: bool, order: str, element: tuple[tuple[int, int], int, bytes],
    start: int,
) -> PixelLayout:
    """Step over a top-level Pixel Data value, noting where its value or items lie."""
    tag, length, _vr = element
    name = f"({tag[0]:04X},{tag[1]:04X})"
    if length != _UNDEFINED:
        value_start = reader.position
        reader.skip(length, f"element {name} at byte {start}")
        return PixelLayout(value=(value_start, length))
    offsets, lengths = array("Q"), array("I")
    what, item_header = f"an item of {name}", struct.Struct(order + "HHL").unpack
    while True:  # the tightest loop of ingest: one pass per frame of a whole slide
        group, number, length = item_header(reader.read(8, what))
        if group == 0xFFFE and number == 0xE000 and length != _UNDEFINED:
            offsets.append(reader.position)
            lengths.append(length)
            reader.skip(length, what)
            continue
        if (group, number) == _SEQUENCE_END:
            break
        if (group, number) != _ITEM:
            raise InvalidInput(
                f"{name} has an unexpected tag ({group:04X},{number:04X})"
                f" at byte {reader.position - 8}"
            )
        # an item of undefined length is no fragment: step over the rest as before, no layout
        while _step_element(reader, implicit_vr, order, 1) != _ITEM_END:
            pass
        _skip_undefined(reader, implicit_vr, order, tag, 1)
        return PixelLayout()
    if not offsets:
        return PixelLayout()
    table = (offsets.pop(0), lengths.pop(0))
    return PixelLayout(offset_table=table, fragment_offsets=offsets, fragment_lengths=lengths)


def _step_element(reader: _Reader, implicit_vr: bool, order: str, depth: int) -> tuple[int, int]:
    """Step over one element (nested items included) or an item delimiter; return its tag."""
    start = reader.position
    element = _read_element_header(reader, implicit_vr, order, strict=depth == 0)
    _step_value(reader, implicit_vr, order, depth, element, start)
    return element[0]


def _step_value(
    reader: _Reader, implicit_vr: bool, order: str, depth: int,
    element: tuple[tuple[int, int], int, bytes], start: int,
) -> None:
    """Step over the value of an element whose header was just read at ``start``."""
    tag, length, vr = element
    if length != _UNDEFINED:
        reader.skip(length, f"element ({tag[0]:04X},{tag[1]:04X}) at byte {start}")
    else:
        if depth >= _MAX_DEPTH:
            raise InvalidInput(f"sequences nested deeper than {_MAX_DEPTH} levels")
        items_implicit = implicit_vr or vr == b"UN"  # CP-246: UN sequences are implicit VR
        _skip_undefined(reader, items_implicit, order, tag, depth + 1)


def _read_element_header(
    reader: _Reader, implicit_vr: bool, order: str, strict: bool = False
) -> tuple[tuple[int, int], int, bytes]:
    """Tag, value length and VR (empty when implicit) of the element at the current position.

    ``strict`` refuses an element without VR in an explicit VR data set (else read as implicit).
    """
    head = reader.read(8, "an element header")
    group, element = struct.unpack(order + "HH", head[:4])
    vr = head[4:6]
    if not implicit_vr and group != 0xFFFE and not (vr.isalpha() and vr.isupper()):
        if strict:
            raise InvalidInput(
                f"element ({group:04X},{element:04X}) at byte {reader.position - 8} has no VR "
                "although the transfer syntax is explicit VR"
            )
        implicit_vr = True  # some writers switch to implicit VR inside sequences
    if implicit_vr or group == 0xFFFE:
        return (group, element), struct.unpack(order + "L", head[4:])[0], b""
    if vr in _LONG_VRS:
        length = struct.unpack(order + "L", reader.read(4, "a length"))[0]
        return (group, element), length, vr
    return (group, element), struct.unpack(order + "H", head[6:])[0], vr


def _skip_undefined(
    reader: _Reader, implicit_vr: bool, order: str, tag: tuple[int, int], depth: int
) -> None:
    """Step over the items of an undefined-length value (a sequence or encapsulated pixels)."""
    name = f"({tag[0]:04X},{tag[1]:04X})"
    while True:
        head = reader.read(8, f"an item of {name}")
        group, element, length = struct.unpack(order + "HHL", head)
        if (group, element) == _SEQUENCE_END:
            return
        if (group, element) != _ITEM:
            raise InvalidInput(
                f"{name} has an unexpected tag ({group:04X},{element:04X})"
                f" at byte {reader.position - 8}"
            )
        if length != _UNDEFINED:
            reader.skip(length, f"an item of {name}")
            continue
        while _step_element(reader, implicit_vr, order, depth) != _ITEM_END:
            pass
