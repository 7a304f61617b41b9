"""JPEG and JPEG 2000 stream surgery without decoding: tables, colour-space markers, sampling.

A TIFF tile is often an *abbreviated* JPEG stream whose quantisation and Huffman tables live
once in the TIFF JPEGTables tag; a DICOM frame must be a complete stream. Merging and splitting
move only marker segments, never entropy-coded data, so a tile survives a round trip
byte for byte.
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Iterator
from dataclasses import dataclass

from slidepacs.errors import InvalidInput

SOI = b"\xff\xd8"
EOI = b"\xff\xd9"
SOS = 0xDA
_STANDALONE = {0x01, *range(0xD0, 0xD8)}
_SOF_MARKERS = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}

# APP14 "Adobe", version 100, flags 0/0, transform 0 (components are R, G, B: no colour
# transform). Placed right after SOI so libjpeg, and every decoder that follows it, reads the
# components as RGB instead of assuming YCbCr.
ADOBE_RGB_MARKER = b"\xff\xee\x00\x0eAdobe\x00\x64\x00\x00\x00\x00\x00"


@dataclass(frozen=True, slots=True)
class Segment:
    """One marker segment: its marker byte and where it lies (``start`` at 0xFF)."""

    marker: int
    start: int
    end: int


def segments(stream: bytes) -> Iterator[Segment]:
    """Marker segments from SOI up to and including SOS (the header), in order."""
    if not stream.startswith(SOI):
        raise InvalidInput("not a JPEG stream (no SOI marker)")
    pos = 2
    while pos + 4 <= len(stream):
        if stream[pos] != 0xFF:
            raise InvalidInput(f"JPEG stream: expected a marker at byte {pos}")
        marker = stream[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in _STANDALONE:
            yield Segment(marker, pos, pos + 2)
            pos += 2
            continue
        (length,) = struct.unpack_from(">H", stream, pos + 2)
        yield Segment(marker, pos, pos + 2 + length)
        if marker == SOS or marker == 0xD9:
            return
        pos += 2 + length


@functools.lru_cache(maxsize=64)
def _table_payload(tables: bytes) -> bytes:
    """The segments between SOI and EOI of a JPEGTables value."""
    if not tables.startswith(SOI) or not tables.rstrip(b"\x00").endswith(EOI):
        raise InvalidInput("JPEGTables is not an SOI … EOI table stream")
    return tables.rstrip(b"\x00")[2:-2]


def merge_tables(tile: bytes | memoryview, tables: bytes | None) -> bytes:
    """A complete JPEG stream: the shared tables inserted right after the tile's SOI."""
    if tile[:2] != SOI:
        raise InvalidInput("JPEG tile does not start with SOI")
    if not tables:
        return bytes(tile)
    return b"".join((SOI, _table_payload(tables), memoryview(tile)[2:]))


def split_tables(frame: bytes, tables: bytes) -> bytes:
    """Undo :func:`merge_tables`; a frame that does not carry exactly ``tables`` is kept whole."""
    payload = _table_payload(tables)
    if frame.startswith(SOI + payload):
        return SOI + frame[2 + len(payload):]
    return frame


def table_prefix(frame: bytes) -> bytes:
    """The JPEGTables value shared by a complete stream: its leading DQT/DHT segments."""
    end = 2
    for seg in segments(frame):
        if seg.start != end or seg.marker not in (0xDB, 0xC4):
            break
        end = seg.end
    return SOI + frame[2:end] + EOI if end > 2 else b""


def has_colour_marker(stream: bytes) -> bool:
    """True when a JFIF (APP0) or Adobe (APP14) marker tells decoders the colour space."""
    for seg in segments(stream):
        if seg.marker == 0xE0 and stream[seg.start + 4:seg.start + 9] == b"JFIF\x00":
            return True
        if seg.marker == 0xEE and stream[seg.start + 4:seg.start + 9] == b"Adobe":
            return True
    return False


def add_rgb_marker(frame: bytes) -> bytes:
    """Insert :data:`ADOBE_RGB_MARKER` after SOI (for RGB streams that lack a colour marker)."""
    return SOI + ADOBE_RGB_MARKER + frame[2:]


def remove_rgb_marker(frame: bytes) -> bytes:
    """Undo :func:`add_rgb_marker`; other streams are returned unchanged."""
    if frame.startswith(SOI + ADOBE_RGB_MARKER):
        return SOI + frame[2 + len(ADOBE_RGB_MARKER):]
    return frame


def luma_sampling(stream: bytes) -> tuple[int, int]:
    """Horizontal and vertical sampling factors of the first component, from the SOF."""
    for seg in segments(stream):
        if seg.marker in _SOF_MARKERS:
            factors = stream[seg.start + 11]
            return factors >> 4, factors & 0x0F
    raise InvalidInput("JPEG stream has no SOF (frame header) before its scan")


def strip_padding(frame: bytes) -> bytes:
    """Drop the one NUL byte DICOM adds after EOI to make a fragment even."""
    if frame.endswith(EOI + b"\x00"):
        return frame[:-1]
    return frame


def j2k_photometric(codestream: bytes, ycbcr_components: bool) -> str:
    """DICOM Photometric Interpretation of a JPEG 2000 codestream, from its COD segment.

    With a multi-component transform the image is YBR_RCT (5-3 wavelet) or YBR_ICT (9-7);
    without one, the components are stored as they are: YCbCr (``YBR_FULL``) or RGB.
    """
    pos = 2
    if not codestream.startswith(b"\xff\x4f"):
        raise InvalidInput("not a JPEG 2000 codestream (no SOC marker)")
    while pos + 4 <= len(codestream) and codestream[pos] == 0xFF:
        marker = codestream[pos + 1]
        (length,) = struct.unpack_from(">H", codestream, pos + 2)
        if marker == 0x52 and pos + 14 <= len(codestream):  # COD
            if codestream[pos + 8] == 1:
                return "YBR_RCT" if codestream[pos + 13] == 1 else "YBR_ICT"
            return "YBR_FULL" if ycbcr_components else "RGB"
        pos += 2 + length
    raise InvalidInput("JPEG 2000 codestream has no COD segment in its main header")
