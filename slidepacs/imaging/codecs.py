"""Decoding stored frames and encoding rendered images with imagecodecs (libjpeg-turbo,
CharLS, OpenJPEG, libpng): tiles of whole slides, and the frames of other images that
pydicom has no decoder for."""

from __future__ import annotations

import imagecodecs
import numpy as np

from slidepacs.domain.rendering import JPEG, PNG, NotRenderable
from slidepacs.errors import StorageFailure

NATIVE = {"1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2"}
JPEG_LOSSY = {"1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.51"}
JPEG_LOSSLESS = {"1.2.840.10008.1.2.4.57", "1.2.840.10008.1.2.4.70"}
JPEG_LS = {"1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.81"}
JPEG_2000 = {"1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.91", "1.2.840.10008.1.2.4.201",
             "1.2.840.10008.1.2.4.202", "1.2.840.10008.1.2.4.203"}
DECODABLE = JPEG_LOSSY | JPEG_LOSSLESS | JPEG_LS | JPEG_2000


def decode_frame(frame: bytes, syntax: str, photometric: str) -> np.ndarray:
    """An encapsulated frame as stored values (rows × columns, or × samples with colour
    given as RGB); NotRenderable for a syntax without a decoder here."""
    if syntax not in DECODABLE:
        raise NotRenderable(f"frames in transfer syntax {syntax} cannot be decoded for "
                            "rendering")
    try:
        pixels = np.asarray(_decode(frame, syntax, photometric))
    except imagecodecs.DelayedImportError as exc:  # pragma: no cover - build without codec
        raise NotRenderable(f"no decoder for transfer syntax {syntax} ({exc})") from None
    except Exception as exc:  # imagecodecs raises codec-specific error classes
        raise StorageFailure(f"a stored frame cannot be decoded ({type(exc).__name__}: "
                             f"{exc})") from None
    if pixels.ndim == 3 and photometric == "YBR_FULL" and syntax not in JPEG_LOSSY:
        pixels = ycbcr_to_rgb(pixels)
    return pixels


def _decode(frame: bytes, syntax: str, photometric: str) -> np.ndarray:
    if syntax in JPEG_LS:
        return imagecodecs.jpegls_decode(frame)
    if syntax in JPEG_2000:
        return imagecodecs.jpeg2k_decode(frame)
    # components stored as R, G, B must not go through the YCbCr → RGB transform
    colorspace = "RGB" if photometric == "RGB" else None
    try:
        return imagecodecs.jpeg8_decode(frame, colorspace=colorspace)
    except Exception:
        if syntax not in JPEG_LOSSLESS:
            raise
        return imagecodecs.ljpeg_decode(frame)  # predictors libjpeg-turbo does not take


def native_frame(frame: bytes, rows: int, columns: int, samples: int,
                 planar: bool = False) -> np.ndarray:
    """An uncompressed 8-bit frame as rows × columns × samples."""
    expected = rows * columns * samples
    if len(frame) < expected:
        raise StorageFailure(f"a stored frame has {len(frame)} bytes, fewer than the "
                             f"{expected} of {rows} × {columns} × {samples} 8-bit samples")
    flat = np.frombuffer(frame, np.uint8, count=expected)
    if planar:
        return flat.reshape(samples, rows, columns).transpose(1, 2, 0)
    return flat.reshape(rows, columns, samples)


def ycbcr_to_rgb(pixels: np.ndarray) -> np.ndarray:
    """Full-range ITU-R BT.601 YCbCr (YBR_FULL) to RGB, 8 bits."""
    y, cb, cr = (pixels[..., i].astype(np.float32) for i in range(3))
    rgb = np.stack([y + 1.402 * (cr - 128),
                    y - 0.344136 * (cb - 128) - 0.714136 * (cr - 128),
                    y + 1.772 * (cb - 128)], axis=-1)
    return np.clip(np.rint(rgb), 0, 255).astype(np.uint8)


def encode(pixels: np.ndarray, media_type: str, quality: int) -> bytes:
    """An 8-bit grey (rows × columns × 1) or RGB image as a JPEG or PNG file."""
    image = pixels[..., 0] if pixels.shape[-1] == 1 else pixels
    image = np.ascontiguousarray(image)
    if media_type == PNG:
        return bytes(imagecodecs.png_encode(image, level=6))
    if media_type == JPEG:
        return bytes(imagecodecs.jpeg8_encode(image, level=quality))
    raise NotRenderable(f"cannot encode {media_type}")
