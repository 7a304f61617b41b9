"""Decode and encode single frames (only for derived levels, blank tiles and previews)."""

from __future__ import annotations

import imagecodecs
import numpy as np

from slidepacs.errors import InvalidInput
from slidepacs.wsi import jpeg
from slidepacs.wsi.model import Codec


def decode(frame: bytes, codec: Codec, photometric: str) -> np.ndarray:
    """A frame as RGB pixels (height × width × 3, uint8)."""
    try:
        if codec is Codec.JPEG:
            pixels = imagecodecs.jpeg8_decode(frame, outcolorspace="rgb")
        else:
            pixels = imagecodecs.jpeg2k_decode(frame)
    except imagecodecs.DelayedImportError as exc:  # pragma: no cover - build without codec
        raise InvalidInput(f"no {codec.value} decoder: {exc}") from exc
    except Exception as exc:  # imagecodecs raises codec-specific error classes
        raise InvalidInput(f"undecodable {codec.value} frame: {exc}") from exc
    if codec is Codec.JPEG2000 and photometric == "YBR_FULL":
        pixels = ycbcr_to_rgb(pixels)
    return np.ascontiguousarray(pixels[..., :3], dtype=np.uint8)


def ycbcr_to_rgb(pixels: np.ndarray) -> np.ndarray:
    """Full-range ITU-R BT.601 YCbCr (JFIF) to RGB."""
    y, cb, cr = (pixels[..., i].astype(np.float32) for i in range(3))
    rgb = np.stack([
        y + 1.402 * (cr - 128),
        y - 0.344136 * (cb - 128) - 0.714136 * (cr - 128),
        y + 1.772 * (cb - 128),
    ], axis=-1)
    return np.clip(np.rint(rgb), 0, 255).astype(np.uint8)


def encode(pixels: np.ndarray, codec: Codec, photometric: str, quality: int) -> bytes:
    """Encode RGB pixels as a complete frame with the given DICOM photometric interpretation."""
    if codec is Codec.JPEG2000:
        return bytes(imagecodecs.jpeg2k_encode(pixels, level=quality, codecformat="j2k",
                                               mct=photometric != "RGB"))
    if photometric == "RGB":
        frame = bytes(imagecodecs.jpeg8_encode(pixels, level=quality, outcolorspace="rgb"))
        return frame if jpeg.has_colour_marker(frame) else jpeg.add_rgb_marker(frame)
    subsampling = "444" if photometric == "YBR_FULL" else "422"
    return bytes(imagecodecs.jpeg8_encode(pixels, level=quality, outcolorspace="ycbcr",
                                          subsampling=subsampling))


def blank(tile_size: tuple[int, int], codec: Codec, photometric: str, quality: int) -> bytes:
    """A white frame, for tiles a TILED_FULL level must have but the source lacks."""
    width, height = tile_size
    return encode(np.full((height, width, 3), 255, np.uint8), codec, photometric, quality)
