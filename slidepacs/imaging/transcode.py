"""Frames from one transfer syntax to another (WADO-RS frames when the Accept header asks for
a syntax other than the stored one): decode to pixel values, encode again.

Targets: Explicit VR Little Endian (native bytes, interleaved colour), JPEG Baseline (8-bit
only, lossy), JPEG-LS lossless and JPEG 2000 lossless. A lossy stored frame decoded to native
keeps its loss; colour decoded from YCbCr JPEG comes out as RGB.
"""

from __future__ import annotations

from dataclasses import dataclass

import imagecodecs
import numpy as np

from slidepacs.domain.rendering import NotRenderable
from slidepacs.errors import StorageFailure
from slidepacs.imaging import codecs

EXPLICIT_LE = "1.2.840.10008.1.2.1"
BIG_ENDIAN = "1.2.840.10008.1.2.2"
JPEG_BASELINE = "1.2.840.10008.1.2.4.50"
JPEG_LS_LOSSLESS = "1.2.840.10008.1.2.4.80"
JPEG_2000_LOSSLESS = "1.2.840.10008.1.2.4.90"
TARGETS = {EXPLICIT_LE, JPEG_BASELINE, JPEG_LS_LOSSLESS, JPEG_2000_LOSSLESS}
JPEG_QUALITY = 90


class CannotTranscode(NotRenderable):
    """These frames cannot be turned into the asked transfer syntax."""


@dataclass(frozen=True, slots=True)
class PixelFormat:
    """What a stored frame holds (from the instance's Image Pixel module)."""

    rows: int
    columns: int
    samples: int
    bits_allocated: int
    signed: bool
    photometric: str
    planar: bool

    @property
    def dtype(self) -> np.dtype:
        """The numpy type of one native sample (little endian)."""
        if self.bits_allocated not in (8, 16, 32):
            raise CannotTranscode(f"{self.bits_allocated}-bit samples are not transcoded")
        kind = "i" if self.signed else "u"
        return np.dtype(f"<{kind}{self.bits_allocated // 8}")


def can_transcode(stored: str, target: str) -> bool:
    """True when frames stored in ``stored`` can be sent in ``target``."""
    return target in TARGETS and (stored in codecs.NATIVE or stored in codecs.DECODABLE)


def check_target(pixels: PixelFormat, target: str) -> None:
    """CannotTranscode when frames of ``pixels`` cannot be encoded in ``target`` at all."""
    if target == JPEG_BASELINE and pixels.bits_allocated != 8:
        raise CannotTranscode(f"JPEG Baseline holds 8-bit samples only; these have "
                              f"{pixels.bits_allocated}")
    pixels.dtype  # noqa: B018 - raises for sample sizes without a numpy type


def transcode(frame: bytes, stored: str, target: str, pixels: PixelFormat) -> bytes:
    """One frame stored in ``stored`` as ``target`` bytes; CannotTranscode when that cannot
    be done for these pixels (e.g. JPEG Baseline of 16-bit samples)."""
    if not can_transcode(stored, target):
        raise CannotTranscode(f"frames in transfer syntax {stored} cannot be sent as {target}")
    check_target(pixels, target)
    values = _values(frame, stored, pixels)
    if target == EXPLICIT_LE:
        return np.ascontiguousarray(values, dtype=values.dtype.newbyteorder("<")).tobytes()
    image = np.ascontiguousarray(values[..., 0] if values.shape[-1] == 1 else values)
    try:
        if target == JPEG_BASELINE:
            return bytes(imagecodecs.jpeg8_encode(image, level=JPEG_QUALITY))
        if target == JPEG_LS_LOSSLESS:  # signed samples go as their unsigned bit patterns
            unsigned = image.view(image.dtype.str.replace("i", "u"))
            return bytes(imagecodecs.jpegls_encode(unsigned, level=0))
        return bytes(imagecodecs.jpeg2k_encode(image, level=0, codecformat="j2k",
                                               reversible=True))
    except CannotTranscode:
        raise
    except Exception as exc:  # imagecodecs raises codec-specific error classes
        raise CannotTranscode(f"cannot encode the frame as {target} ({exc})") from None


def _values(frame: bytes, stored: str, pixels: PixelFormat) -> np.ndarray:
    """The frame's pixel values as rows × columns × samples."""
    if stored in codecs.DECODABLE:
        values = codecs.decode_frame(frame, stored, pixels.photometric)
        return values.reshape(*values.shape[:2], -1)
    dtype = pixels.dtype.newbyteorder(">") if stored == BIG_ENDIAN else pixels.dtype
    count = pixels.rows * pixels.columns * pixels.samples
    if len(frame) < count * dtype.itemsize:
        raise StorageFailure(f"a stored frame has {len(frame)} bytes, fewer than its "
                             f"{pixels.rows} × {pixels.columns} × {pixels.samples} samples")
    flat = np.frombuffer(frame, dtype, count=count).astype(pixels.dtype)
    if pixels.planar:
        return flat.reshape(pixels.samples, pixels.rows, pixels.columns).transpose(1, 2, 0)
    return flat.reshape(pixels.rows, pixels.columns, pixels.samples)
