"""Frames in a transfer syntax other than the stored one (WADO-RS frames whose Accept header
asks for it): located and read through the frame service, decoded and encoded again."""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path

import pydicom
from pydicom.errors import InvalidDicomError

from slidepacs.errors import StorageFailure
from slidepacs.imaging.transcode import PixelFormat, check_target, transcode
from slidepacs.services.frames import FrameLocation, FrameService

CACHED_FORMATS = 1024
_PIXEL_TAGS = ["Rows", "Columns", "SamplesPerPixel", "BitsAllocated", "PixelRepresentation",
               "PhotometricInterpretation", "PlanarConfiguration"]


class TranscodeService:
    """Sends located frames in another transfer syntax."""

    def __init__(self, frames: FrameService) -> None:
        self._frames = frames
        self._formats: OrderedDict[Path, PixelFormat] = OrderedDict()
        self._lock = threading.Lock()

    def check(self, location: FrameLocation, target: str) -> None:
        """CannotTranscode when the located frames can never be sent in ``target``."""
        check_target(self._format(location.path), target)

    def frames(self, location: FrameLocation, target: str) -> list[tuple[int, bytes]]:
        """Every located frame as (number, bytes in ``target``), in the order asked."""
        pixels = self._format(location.path)
        stored = location.transfer_syntax_uid
        return [(number, transcode(data, stored, target, pixels))
                for number, data in self._frames.read_all(location)]

    def _format(self, path: Path) -> PixelFormat:
        with self._lock:
            known = self._formats.get(path)
        if known is not None:
            return known
        pixels = _pixel_format(path)
        with self._lock:
            self._formats[path] = pixels
            while len(self._formats) > CACHED_FORMATS:
                self._formats.popitem(last=False)
        return pixels


def _pixel_format(path: Path) -> PixelFormat:
    """The Image Pixel module of a stored file (its header only)."""
    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=_PIXEL_TAGS)
    except (OSError, InvalidDicomError) as exc:
        raise StorageFailure(f"stored file {path.name} cannot be read ({exc})") from None
    return PixelFormat(
        rows=int(ds.get("Rows") or 0), columns=int(ds.get("Columns") or 0),
        samples=int(ds.get("SamplesPerPixel") or 1),
        bits_allocated=int(ds.get("BitsAllocated") or 8),
        signed=int(ds.get("PixelRepresentation") or 0) == 1,
        photometric=str(ds.get("PhotometricInterpretation") or "MONOCHROME2").strip(),
        planar=int(ds.get("PlanarConfiguration") or 0) == 1)
