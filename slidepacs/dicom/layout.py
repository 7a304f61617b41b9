"""Walk a file's elements by their lengths to prove it is complete, without reading values.

pydicom reads the header and stops before Pixel Data, and it silently accepts a value cut
short by the end of the file; this module steps over every element of the data set (header,
sequences, Pixel Data, trailing elements) by their lengths, so a file truncated anywhere is
caught while memory stays constant whatever the file size.
"""

from __future__ import annotations

import struct
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
) -> None:
    """Step from ``start`` to the end of the file; raise InvalidInput if it is truncated."""
    order = "<" if little_endian else ">"
    reader = _Reader(handle, size, start)
    while reader.position < size:
        _step_element(reader, implicit_vr, order, 0)


def _step_element(reader: _Reader, implicit_vr: bool, order: str, depth: int) -> tuple[int, int]:
    """Step over one element (nested items included) or an item delimiter; return its tag."""
    start = reader.position
    tag, length, vr = _read_element_header(reader, implicit_vr, order, strict=depth == 0)
    if length != _UNDEFINED:
        reader.skip(length, f"element ({tag[0]:04X},{tag[1]:04X}) at byte {start}")
    else:
        if depth >= _MAX_DEPTH:
            raise InvalidInput(f"sequences nested deeper than {_MAX_DEPTH} levels")
        items_implicit = implicit_vr or vr == b"UN"  # CP-246: UN sequences are implicit VR
        _skip_undefined(reader, items_implicit, order, tag, depth + 1)
    return tag


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
