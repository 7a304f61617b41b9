"""Encapsulated Pixel Data written frame by frame, with an offset table filled in at the end.

PS3.5 A.4: Pixel Data (7FE0,0010) OB of undefined length holds items: the Basic Offset Table,
then one fragment per frame, then a Sequence Delimitation Item. Slots for the offsets are
reserved up front and patched once every frame is on disk, so no frame is ever held longer
than it takes to write it. Past 4 GiB the 32-bit Basic Offset Table cannot address frames;
then it stays empty and the Extended Offset Table (7FE0,0001) and its lengths (7FE0,0002),
both OV, carry 64-bit offsets (PS3.3 C.7.6.3.1.8).
"""

from __future__ import annotations

import struct
from typing import BinaryIO

from slidepacs.errors import InvalidInput, StorageFailure

ITEM = b"\xfe\xff\x00\xe0"
SEQUENCE_DELIMITER = b"\xfe\xff\xdd\xe0\x00\x00\x00\x00"
PIXEL_DATA_HEADER = b"\xe0\x7f\x10\x00OB\x00\x00\xff\xff\xff\xff"
MAX_BASIC_OFFSET = 0xFFFFFFFF


def _ov_header(element: int, length: int) -> bytes:
    return struct.pack("<HH2sHI", 0x7FE0, element, b"OV", 0, length)


class EncapsulatedFrames:
    """Appends frames to ``handle`` (positioned right after the last element before 7FE0).

    ``extended`` selects the Extended Offset Table instead of the Basic one.
    """

    def __init__(self, handle: BinaryIO, frame_count: int, extended: bool) -> None:
        self._out = handle
        self._count = frame_count
        self._extended = extended
        self._offsets: list[int] = []
        self._lengths: list[int] = []
        self._written = 0
        if extended:
            handle.write(_ov_header(0x0001, 8 * frame_count))
            self._eot_at = handle.tell()
            handle.write(bytes(8 * frame_count))
            handle.write(_ov_header(0x0002, 8 * frame_count))
            handle.write(bytes(8 * frame_count))
        handle.write(PIXEL_DATA_HEADER)
        table_length = 0 if extended else 4 * frame_count
        handle.write(ITEM + struct.pack("<I", table_length))
        self._bot_at = handle.tell()
        handle.write(bytes(table_length))

    def add(self, frame: bytes | memoryview) -> None:
        """Write the next frame as one fragment (padded to an even length)."""
        if len(self._offsets) == self._count:
            raise InvalidInput(f"more frames than the {self._count} announced")
        padding = len(frame) % 2
        length = len(frame) + padding
        self._offsets.append(self._written)
        self._lengths.append(length)
        self._out.write(ITEM + struct.pack("<I", length))
        self._out.write(frame)
        if padding:
            self._out.write(b"\x00")
        self._written += 8 + length

    def finish(self) -> None:
        """Write the delimiter and fill in the offset table."""
        if len(self._offsets) != self._count:
            raise InvalidInput(f"{len(self._offsets)} frames written, {self._count} announced")
        self._out.write(SEQUENCE_DELIMITER)
        end = self._out.tell()
        if self._extended:
            self._out.seek(self._eot_at)
            self._out.write(struct.pack(f"<{self._count}Q", *self._offsets))
            self._out.seek(12, 1)  # over the header of Extended Offset Table Lengths
            self._out.write(struct.pack(f"<{self._count}Q", *self._lengths))
        else:
            if self._offsets and self._offsets[-1] > MAX_BASIC_OFFSET:
                raise StorageFailure("frames pass 4 GiB: an Extended Offset Table is needed")
            self._out.seek(self._bot_at)
            self._out.write(struct.pack(f"<{self._count}I", *self._offsets))
        self._out.seek(end)
