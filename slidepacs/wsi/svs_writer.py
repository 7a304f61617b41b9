"""Slide → Aperio SVS (tiled pyramidal TIFF), tiles written as they are.

Page order is Aperio's: base level, thumbnail, the other levels, label, macro. JPEG frames
lose the tables they share (written once as JPEGTables) and the RGB marker slidepacs added
on reading, so an SVS → DICOM → SVS round trip gives back the original tile bytes.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import tifffile

from slidepacs.errors import Conflict, InvalidInput, StorageFailure
from slidepacs.wsi import aperio, jpeg
from slidepacs.wsi.model import Associated, Codec, Level, SlideSource

BIGTIFF_FROM = 3_900_000_000
WRITE_BUFFER = 4 << 20
_J2K_COMPRESSION = {"YBR_FULL": 33003}
_J2K_RGB = 33005
Progress = Callable[[int], None]


def write_svs(source: SlideSource, path: Path, progress: Progress = lambda n: None,
              bigtiff: bool | None = None) -> Path:
    """Write ``source`` as an SVS file at ``path`` (which must not exist); BigTIFF when
    ``bigtiff`` says so, or by default when the tiles pass 3.9 GB."""
    if path.exists():
        raise Conflict(f"{path} already exists")
    temporary = path.with_name(path.name + ".tmp")
    big = bigtiff if bigtiff is not None else \
        sum(source.level_bytes(i) for i in range(len(source.levels))) > BIGTIFF_FROM
    try:
        with open(temporary, "wb", buffering=WRITE_BUFFER) as handle:
            with tifffile.TiffWriter(handle, bigtiff=big) as tiff:
                for index in range(len(source.levels)):
                    _write_level(tiff, source, index, progress)
                    if index == 0:
                        _write_image(tiff, source, Associated.THUMBNAIL, None, 0)
                _write_image(tiff, source, Associated.LABEL, "label", 1)
                _write_image(tiff, source, Associated.OVERVIEW, "macro", 9)
            handle.flush()
            os.fsync(handle.fileno())
        temporary.replace(path)
    except OSError as exc:
        raise StorageFailure(f"cannot write {path}: {exc}") from exc
    finally:
        temporary.unlink(missing_ok=True)
    return path


def _first_frame(source: SlideSource, index: int) -> bytes:
    for tile_x, tile_y in source.present_tiles(index):
        frame = source.read_frame(index, tile_x, tile_y)
        if frame is not None:
            return jpeg.remove_rgb_marker(jpeg.strip_padding(frame))
    raise InvalidInput(f"level {index} has no tiles")


def _tiff_coding(level: Level, first: bytes) -> dict[str, object]:
    """Compression, photometric and sampling tags for the level's tiles."""
    if level.codec is Codec.JPEG2000:
        return {"compression": _J2K_COMPRESSION.get(level.photometric, _J2K_RGB),
                "photometric": "rgb"}
    if level.photometric == "RGB":
        return {"compression": 7, "photometric": "rgb", "subsampling": (1, 1),
                "compressionargs": {"outcolorspace": 2}}
    return {"compression": 7, "photometric": "ycbcr", "subsampling": jpeg.luma_sampling(first)}


def _tiles(source: SlideSource, index: int, tables: bytes | None,
           progress: Progress) -> Iterator[bytes]:
    level = source.levels[index]
    for tile_y in range(level.tiles_down):
        for frame in source.read_row(index, tile_y):
            if frame is None:
                yield b""
                continue
            progress(len(frame))
            tile = jpeg.strip_padding(frame)
            if level.codec is Codec.JPEG:
                tile = jpeg.remove_rgb_marker(tile)
                tile = jpeg.split_tables(tile, tables) if tables else tile
            yield tile


def _write_level(tiff: tifffile.TiffWriter, source: SlideSource, index: int,
                 progress: Progress) -> None:
    level, base = source.levels[index], source.levels[0]
    first = _first_frame(source, index)
    tables = jpeg.table_prefix(first) if level.codec is Codec.JPEG else b""
    description = aperio.level_description(
        source.metadata, (base.px_width, base.px_height), (level.px_width, level.px_height),
        (level.tile_width, level.tile_height),
        "JPEG/RGB" if level.codec is Codec.JPEG else "J2K/KDU")
    tiff.write(
        _tiles(source, index, tables or None, progress),
        shape=(level.px_height, level.px_width, 3), dtype=np.uint8,
        tile=(level.tile_height, level.tile_width), jpegtables=tables or None,
        description=description, metadata=None,
        iccprofile=source.metadata.icc_profile if index == 0 else None,
        **_tiff_coding(level, first),  # type: ignore[arg-type]
    )


def _write_image(tiff: tifffile.TiffWriter, source: SlideSource, kind: Associated,
                 name: str | None, subfiletype: int) -> None:
    pixels = source.associated(kind)
    if pixels is None:
        return
    height, width = pixels.shape[:2]
    if name is None:
        base = source.levels[0]
        description = aperio.level_description(
            source.metadata, (base.px_width, base.px_height), (width, height),
            (width, height), "JPEG/RGB")
    else:
        description = aperio.associated_description(name, (width, height))
    compression = ("lzw", None) if kind is Associated.LABEL else ("jpeg", 90)
    tiff.write(pixels, photometric="rgb", compression=compression[0],
               compressionargs={"level": compression[1]} if compression[1] else None,
               rowsperstrip=16, description=description, subfiletype=subfiletype,
               metadata=None)
