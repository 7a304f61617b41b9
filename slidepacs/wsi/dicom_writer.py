"""Write DICOM WSI instances: pyramid levels frame by frame, associated images whole."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

import imagecodecs
import numpy as np
import pydicom
from pydicom.uid import JPEG2000, ExplicitVRLittleEndian, JPEGBaseline8Bit

from slidepacs.errors import StorageFailure
from slidepacs.wsi.dicom_modules import (
    ImageSpec,
    SeriesContext,
    build_dataset,
    file_meta,
)
from slidepacs.wsi.frames import EncapsulatedFrames
from slidepacs.wsi.model import Associated, Codec
from slidepacs.wsi.plane_positions import per_frame_groups

TRANSFER_SYNTAX = {Codec.JPEG: JPEGBaseline8Bit, Codec.JPEG2000: JPEG2000}
ASSOCIATED_JPEG_QUALITY = 90
WRITE_BUFFER = 4 << 20  # frames pass through one big buffer: few system calls


@contextmanager
def _atomic(path: Path) -> Iterator[BinaryIO]:
    """Write to ``path.tmp`` and rename into place only when complete."""
    temporary = path.with_name(path.name + ".tmp")
    try:
        with open(temporary, "wb", buffering=WRITE_BUFFER) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise StorageFailure(f"cannot write {path}: {exc}") from exc
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def _write_header(handle: BinaryIO, ctx: SeriesContext, spec: ImageSpec, uid: str,
                  transfer_syntax: str, tiles: Sequence[tuple[int, int]] | None) -> None:
    ds = build_dataset(ctx, spec, uid)
    ds.file_meta = file_meta(uid, transfer_syntax)
    pydicom.dcmwrite(handle, ds, enforce_file_format=True)
    if tiles is not None:  # (5200,9230) sorts after every element build_dataset writes
        handle.write(per_frame_groups(ctx, spec, tiles))


@dataclasses.dataclass(frozen=True, slots=True)
class LevelTarget:
    """Where and how one pyramid level is written."""

    path: Path
    spec: ImageSpec
    codec: Codec
    uid: str
    tiles: Sequence[tuple[int, int]] | None  # grid positions for TILED_SPARSE, else None
    extended: bool = False


@contextmanager
def level_writer(ctx: SeriesContext, target: LevelTarget) -> Iterator[EncapsulatedFrames]:
    """An open level: call ``add(frame)`` for each frame in order; finished on exit."""
    with _atomic(target.path) as handle:
        _write_header(handle, ctx, target.spec, target.uid, TRANSFER_SYNTAX[target.codec],
                      target.tiles)
        pixel_data = EncapsulatedFrames(handle, target.spec.frame_count, target.extended)
        yield pixel_data
        pixel_data.finish()


def write_level(ctx: SeriesContext, target: LevelTarget, frames: Iterable[bytes]) -> None:
    """Write one pyramid level, streaming ``frames``."""
    with level_writer(ctx, target) as pixel_data:
        for frame in frames:
            pixel_data.add(frame)


def associated_spec(
    kind: Associated, pixels: np.ndarray, mm_spacing: float, instance_number: int,
) -> ImageSpec:
    """The instance description of a label, overview or thumbnail image."""
    height, width = pixels.shape[:2]
    lossless = kind is Associated.LABEL
    flavour = ("DERIVED", "PRIMARY", kind.value, "RESAMPLED") if kind is Associated.THUMBNAIL \
        else ("ORIGINAL", "PRIMARY", kind.value, "NONE")
    return ImageSpec(
        kind=kind, image_type=flavour, instance_number=instance_number,
        px_size=(width, height), tile_size=(width, height), mm_spacing=mm_spacing,
        photometric="RGB" if lossless else "YBR_FULL_422", frame_count=1, sparse=False,
        lossy_method=None if lossless else "ISO_10918_1", compression_ratio=None,
    )


def write_associated(
    path: Path, ctx: SeriesContext, spec: ImageSpec, uid: str, pixels: np.ndarray,
) -> None:
    """Write a label uncompressed (barcodes stay sharp) or an overview/thumbnail as JPEG."""
    with _atomic(path) as handle:
        if spec.lossy_method is None:
            ds = build_dataset(ctx, spec, uid)
            ds.PixelData = np.ascontiguousarray(pixels, dtype=np.uint8).tobytes()
            ds.file_meta = file_meta(uid, ExplicitVRLittleEndian)
            pydicom.dcmwrite(handle, ds, enforce_file_format=True)
            return
        frame = imagecodecs.jpeg8_encode(
            pixels, level=ASSOCIATED_JPEG_QUALITY, outcolorspace="ycbcr", subsampling="422")
        ratio = pixels.size / len(frame)
        spec = dataclasses.replace(spec, compression_ratio=ratio)
        _write_header(handle, ctx, spec, uid, JPEGBaseline8Bit, None)
        pixel_data = EncapsulatedFrames(handle, 1, extended=False)
        pixel_data.add(bytes(frame))
        pixel_data.finish()
