"""Per-Frame Functional Groups of a TILED_SPARSE level, encoded directly (explicit VR LE).

Building one pydicom Dataset per frame costs ~0.5 ms; a slide has tens of thousands of
frames. Each item here has the same five elements, so the bytes are packed with struct.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

from slidepacs.wsi.dicom_modules import ImageSpec, SeriesContext

PER_FRAME_FUNCTIONAL_GROUPS = (0x5200, 0x9230)
PLANE_POSITION_SLIDE = (0x0048, 0x021A)
_ITEM = struct.Struct("<HHI")


def _ds(value: float) -> bytes:
    """A DS value: at most 16 characters, padded to an even length with a space."""
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    if text in ("-0", ""):
        text = "0"
    encoded = text[:16].encode("ascii")
    return encoded + b" " if len(encoded) % 2 else encoded


def _short(group: int, element: int, vr: bytes, value: bytes) -> bytes:
    return struct.pack("<HH2sH", group, element, vr, len(value)) + value


def _sequence(tag: tuple[int, int], items: list[bytes]) -> bytes:
    body = b"".join(_ITEM.pack(0xFFFE, 0xE000, len(item)) + item for item in items)
    return struct.pack("<HH2sHI", tag[0], tag[1], b"SQ", 0, len(body)) + body


def per_frame_groups(ctx: SeriesContext, spec: ImageSpec,
                     tiles: Sequence[tuple[int, int]]) -> bytes:
    """The encoded (5200,9230) element: each frame's position in the matrix and on the slide.

    Positions are 1-based pixel columns/rows; slide offsets follow ImageOrientationSlide
    (0\\-1\\0\\-1\\0\\0): X falls with the row, Y falls with the column.
    """
    x0, y0 = ctx.meta.origin_mm
    groups = []
    for tile_x, tile_y in tiles:
        column, row = tile_x * spec.tile_size[0], tile_y * spec.tile_size[1]
        position = b"".join((
            _short(0x0040, 0x072A, b"DS", _ds(x0 - row * spec.mm_spacing)),
            _short(0x0040, 0x073A, b"DS", _ds(y0 - column * spec.mm_spacing)),
            _short(0x0040, 0x074A, b"DS", b"0 "),
            _short(0x0048, 0x021E, b"SL", struct.pack("<i", column + 1)),
            _short(0x0048, 0x021F, b"SL", struct.pack("<i", row + 1)),
        ))
        groups.append(_sequence(PLANE_POSITION_SLIDE, [position]))
    return _sequence(PER_FRAME_FUNCTIONAL_GROUPS, groups)
