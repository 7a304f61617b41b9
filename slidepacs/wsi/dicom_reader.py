"""A DICOM WSI series as a :class:`SlideSource`: frames found by offset, never decoded."""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Self

import imagecodecs
import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError

from slidepacs.errors import InvalidInput, Unsupported
from slidepacs.wsi.dicom_modules import WSI_SOP_CLASS
from slidepacs.wsi.dicom_writer import TRANSFER_SYNTAX
from slidepacs.wsi.model import Associated, Codec, Level, SlideMetadata

_CODEC_OF: dict[str, Codec] = {uid: codec for codec, uid in TRANSFER_SYNTAX.items()}
_CODEC_OF["1.2.840.10008.1.2.4.90"] = Codec.JPEG2000
_ITEM = 0xE000FFFE


@dataclass(frozen=True, slots=True)
class _Instance:
    path: Path
    ds: Dataset
    pixel_data_at: int


def _read_instance(path: Path) -> _Instance | None:
    """The header of a WSI file and where its Pixel Data starts; None for other files."""
    try:
        with open(path, "rb") as handle:
            ds = pydicom.dcmread(handle, stop_before_pixels=True)
            position = handle.tell()
    except (InvalidDicomError, OSError, EOFError, ValueError):
        return None
    if ds.get("SOPClassUID") != WSI_SOP_CLASS:
        return None
    return _Instance(path, ds, position)


def _frame_offsets(fd: int, start: int, frames: int, ds: Dataset) -> list[int]:
    """Absolute file offsets of each frame's item header (one fragment per frame)."""
    header = os.pread(fd, 20, start)
    if header[:4] != b"\xe0\x7f\x10\x00" or header[8:12] != b"\xff\xff\xff\xff":
        raise Unsupported("Pixel Data is not encapsulated")
    (table_length,) = struct.unpack_from("<I", header, 16)
    first = start + 20 + table_length
    if "ExtendedOffsetTable" in ds:
        return [first + o for o in struct.unpack(f"<{frames}Q", ds.ExtendedOffsetTable)]
    if table_length:
        table = os.pread(fd, table_length, start + 20)
        return [first + o for o in struct.unpack(f"<{table_length // 4}I", table)]
    offsets: list[int] = []
    position = first
    while len(offsets) < frames:
        tag, length = struct.unpack("<II", os.pread(fd, 8, position))
        if tag != _ITEM:
            raise InvalidInput(f"fewer fragments than the {frames} frames announced")
        offsets.append(position)
        position += 8 + length
    if len(offsets) != frames:
        raise Unsupported("frames split over several fragments")
    return offsets


class _LevelFile:
    """One VOLUME instance: frame lookup for TILED_FULL or TILED_SPARSE."""

    def __init__(self, instance: _Instance, level: Level) -> None:
        ds = instance.ds
        self.level = level
        self.fd = os.open(instance.path, os.O_RDONLY)
        frames = int(ds.NumberOfFrames)
        self.offsets = _frame_offsets(self.fd, instance.pixel_data_at, frames, ds)
        self.index: dict[tuple[int, int], int] | None = None
        if ds.get("DimensionOrganizationType") == "TILED_SPARSE":
            self.index = {}
            for number, group in enumerate(ds.PerFrameFunctionalGroupsSequence):
                position = group.PlanePositionSlideSequence[0]
                key = ((int(position.ColumnPositionInTotalImagePixelMatrix) - 1)
                       // level.tile_width,
                       (int(position.RowPositionInTotalImagePixelMatrix) - 1)
                       // level.tile_height)
                self.index[key] = number

    def frame_number(self, tile_x: int, tile_y: int) -> int | None:
        if self.index is not None:
            return self.index.get((tile_x, tile_y))
        return tile_y * self.level.tiles_across + tile_x

    def read(self, number: int) -> bytes:
        tag, length = struct.unpack("<II", os.pread(self.fd, 8, self.offsets[number]))
        if tag != _ITEM:
            raise InvalidInput(f"frame {number}: offset table points at no item")
        return os.pread(self.fd, length, self.offsets[number] + 8)


def read_single_image(path: Path) -> np.ndarray:
    """The first frame of a DICOM image (a label, overview or thumbnail) decoded to RGB;
    InvalidInput if it cannot be decoded."""
    try:
        ds = pydicom.dcmread(path)
        width, height = int(ds.Columns), int(ds.Rows)
        if ds.file_meta.TransferSyntaxUID in _CODEC_OF:
            frame = next(pydicom.encaps.generate_frames(ds.PixelData, number_of_frames=1))
            return np.asarray(imagecodecs.imread(frame))[..., :3]
        return np.frombuffer(ds.PixelData, np.uint8)[: height * width * 3].reshape(
            height, width, 3)
    except (InvalidDicomError, OSError, ValueError, AttributeError, StopIteration,
            imagecodecs.DelayedImportError, RuntimeError) as exc:
        raise InvalidInput(f"{path.name}: image cannot be decoded ({exc})") from None


class DicomSlide:
    """The WSI instances of one series in a folder (or the series of one given file)."""

    def __init__(self, path: Path) -> None:
        files = sorted(path.iterdir()) if path.is_dir() else sorted(path.parent.iterdir())
        instances = [i for i in map(_read_instance, (f for f in files if f.is_file())) if i]
        if path.is_file():
            series = next((i.ds.SeriesInstanceUID for i in instances if i.path == path), None)
            if series is None:
                raise InvalidInput(f"{path.name}: not a whole-slide image (neither Aperio SVS "
                                   "nor DICOM WSI)")
            instances = [i for i in instances if i.ds.SeriesInstanceUID == series]
        volumes = [i for i in instances if str(i.ds.ImageType[2]) == "VOLUME"]
        if not volumes:
            raise InvalidInput(f"{path}: no DICOM whole-slide pyramid level found")
        volumes.sort(key=lambda i: -int(i.ds.TotalPixelMatrixColumns))
        self._others = {str(i.ds.ImageType[2]): i for i in instances if i not in volumes}
        base = volumes[0].ds
        self._files = [_LevelFile(i, self._level(i.ds, base)) for i in volumes]
        self.levels: list[Level] = [f.level for f in self._files]
        self.metadata: SlideMetadata = self._metadata(base)

    @staticmethod
    def _level(ds: Dataset, base: Dataset) -> Level:
        codec = _CODEC_OF.get(ds.file_meta.TransferSyntaxUID)
        if codec is None:
            raise Unsupported(f"transfer syntax {ds.file_meta.TransferSyntaxUID} "
                              "(only JPEG baseline and JPEG 2000 frames are copied)")
        return Level(
            px_width=int(ds.TotalPixelMatrixColumns), px_height=int(ds.TotalPixelMatrixRows),
            tile_width=int(ds.Columns), tile_height=int(ds.Rows), codec=codec,
            photometric=str(ds.PhotometricInterpretation),
            downsample=int(base.TotalPixelMatrixColumns) / int(ds.TotalPixelMatrixColumns),
            derived="DerivationDescription" in ds and "slidepacs" in ds.DerivationDescription,
        )

    def _metadata(self, ds: Dataset) -> SlideMetadata:
        spacing = ds.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0].PixelSpacing
        path = ds.OpticalPathSequence[0] if "OpticalPathSequence" in ds else Dataset()
        label = self._others.get("LABEL")
        origin = ds.TotalPixelMatrixOriginSequence[0]
        return SlideMetadata(
            mpp=float(spacing[1]) * 1000,
            objective_power=float(path.ObjectiveLensPower) if "ObjectiveLensPower" in path
            else None,
            origin_mm=(float(origin.XOffsetInSlideCoordinateSystem),
                       float(origin.YOffsetInSlideCoordinateSystem)),
            acquired=str(ds.get("AcquisitionDateTime", "")) or None,
            scanner_serial=str(ds.get("DeviceSerialNumber", "")) or None,
            barcode=str(label.ds.get("BarcodeValue", "")) or None if label else None,
            slide_id=str(ds.get("ContainerIdentifier", "")) or None,
            icc_profile=bytes(path.ICCProfile) if "ICCProfile" in path else None,
        )

    def read_frame(self, level: int, tile_x: int, tile_y: int) -> bytes | None:
        """The frame at a tile position, or None for a tile a sparse level lacks."""
        file = self._files[level]
        number = file.frame_number(tile_x, tile_y)
        return None if number is None else file.read(number)

    def read_row(self, level: int, tile_y: int) -> list[bytes | None]:
        """A tile row; TILED_FULL rows come from one read of their consecutive frames."""
        file = self._files[level]
        across = file.level.tiles_across
        first, last = tile_y * across, (tile_y + 1) * across - 1
        if file.index is not None or last + 1 >= len(file.offsets):
            return [self.read_frame(level, x, tile_y) for x in range(across)]
        start = file.offsets[first]
        span = memoryview(os.pread(file.fd, file.offsets[last + 1] - start, start))
        frames: list[bytes | None] = []
        for number in range(first, last + 1):
            at = file.offsets[number] - start
            tag, length = struct.unpack_from("<II", span, at)
            if tag != _ITEM:
                raise InvalidInput(f"frame {number}: offset table points at no item")
            frames.append(bytes(span[at + 8:at + 8 + length]))
        return frames

    def present_tiles(self, level: int) -> Iterator[tuple[int, int]]:
        """Tile positions with a frame, row by row."""
        file = self._files[level]
        if file.index is None:
            lvl = file.level
            return ((x, y) for y in range(lvl.tiles_down) for x in range(lvl.tiles_across))
        return iter(sorted(file.index, key=lambda p: (p[1], p[0])))

    def level_bytes(self, level: int) -> int:
        """Encoded size of the level's frames (from the file size)."""
        return os.fstat(self._files[level].fd).st_size

    def associated(self, kind: Associated) -> np.ndarray | None:
        """Label, overview or thumbnail decoded to RGB."""
        instance = self._others.get(kind.value)
        return None if instance is None else read_single_image(instance.path)

    def close(self) -> None:
        """Close the level files."""
        for file in self._files:
            os.close(file.fd)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
