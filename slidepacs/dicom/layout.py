"""Walk the elements that follow the header to prove a file is complete, without reading them.

pydicom reads the header and stops before Pixel Data; this module then steps over Pixel Data
(and any trailing elements) by their lengths, so a truncated file is caught while memory stays
constant whatever the file size.
"""

from __future__ import annotations

import struct
from typing import BinaryIO

from slidepacs.errors import InvalidInput

_UNDEFINED = 0xFFFFFFFF
_ITEM = (0xFFFE, 0xE000)
_SEQUENCE_END = (0xFFFE, 0xE0DD)
_LONG_VRS = {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR",
             b"UT", b"UV"}


def check_complete(handle: BinaryIO, size: int, implicit_vr: bool, little_endian: bool) -> None:
    """Step from the current position to the end of the file; raise InvalidInput if truncated."""
    order = "<" if little_endian else ">"
    while handle.tell() < size:
        start = handle.tell()
        group, element, length = _read_element_header(handle, size, implicit_vr, order)
        if length == _UNDEFINED:
            _skip_undefined(handle, size, order, (group, element))
        else:
            _skip(handle, size, length, f"element ({group:04X},{element:04X}) at byte {start}")


def _read_element_header(
    handle: BinaryIO, size: int, implicit_vr: bool, order: str
) -> tuple[int, int, int]:
    head = _read_exactly(handle, size, 8, "an element header")
    group, element = struct.unpack(order + "HH", head[:4])
    if implicit_vr or group == 0xFFFE:
        return group, element, struct.unpack(order + "L", head[4:])[0]
    vr = head[4:6]
    if vr in _LONG_VRS:
        length = struct.unpack(order + "L", _read_exactly(handle, size, 4, "a length"))[0]
        return group, element, length
    return group, element, struct.unpack(order + "H", head[6:])[0]


def _skip_undefined(handle: BinaryIO, size: int, order: str, tag: tuple[int, int]) -> None:
    """Step over items of an undefined-length value (encapsulated pixel data or sequence)."""
    while True:
        head = _read_exactly(handle, size, 8, f"an item of ({tag[0]:04X},{tag[1]:04X})")
        group, element, length = struct.unpack(order + "HHL", head)
        if (group, element) == _SEQUENCE_END:
            return
        if (group, element) != _ITEM:
            raise InvalidInput(
                f"({tag[0]:04X},{tag[1]:04X}) has an unexpected tag ({group:04X},{element:04X})"
                f" at byte {handle.tell() - 8}"
            )
        if length == _UNDEFINED:
            raise InvalidInput("undefined-length items after the header are not supported")
        _skip(handle, size, length, f"an item of ({tag[0]:04X},{tag[1]:04X})")


def _skip(handle: BinaryIO, size: int, length: int, what: str) -> None:
    end = handle.tell() + length
    if end > size:
        raise InvalidInput(f"file is truncated: {what} needs {end - size} more bytes")
    handle.seek(end)


def _read_exactly(handle: BinaryIO, size: int, count: int, what: str) -> bytes:
    data = handle.read(count)
    if len(data) != count:
        raise InvalidInput(f"file is truncated inside {what} at byte {handle.tell()} of {size}")
    return data
