"""Aperio SVS as a :class:`SlideSource`: tiles read by offset, never decoded."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Self

import numpy as np
import tifffile

from slidepacs.errors import InvalidInput, Unsupported
from slidepacs.wsi import aperio, jpeg
from slidepacs.wsi.model import Associated, Codec, Level, SlideMetadata

_JPEG = 7
_J2K_YCBCR = 33003
_J2K_RGB = 33005
_PHOTOMETRIC_RGB = 2
_PHOTOMETRIC_YCBCR = 6
ROW_READ_LIMIT = 64 << 20


class _Collect(logging.Handler):
    def __init__(self, sink: list[str]) -> None:
        super().__init__(logging.WARNING)
        self.sink = sink

    def emit(self, record: logging.LogRecord) -> None:
        self.sink.append(record.getMessage())


@contextmanager
def _tiff_complaints() -> Iterator[list[str]]:
    """Warnings tifffile logs while parsing (e.g. IFDs past the end of a truncated file),
    collected instead of printed."""
    logger = logging.getLogger("tifffile")
    complaints: list[str] = []
    handler, propagate = _Collect(complaints), logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield complaints
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate


class SvsSlide:
    """An open SVS file. Level pages are tiled; thumbnail, label and macro are not."""

    def __init__(self, path: Path) -> None:
        self.path = path
        with _tiff_complaints() as complaints:
            try:
                self._tiff = tifffile.TiffFile(path)
                pages = [p for p in self._tiff.pages if isinstance(p, tifffile.TiffPage)]
            except (OSError, tifffile.TiffFileError, ValueError) as exc:
                raise InvalidInput(f"{path.name}: not a readable TIFF/SVS file ({exc})") from exc
        try:
            if complaints:
                raise InvalidInput(f"{path.name}: damaged or truncated TIFF ({complaints[0]})")
            self._open_pages(pages)
            self._check_complete(path.stat().st_size)
        except Exception:
            self._tiff.close()
            raise
        self._fd = os.open(path, os.O_RDONLY)

    def _open_pages(self, pages: list[tifffile.TiffPage]) -> None:
        first = pages[0] if pages else None
        if first is None or not aperio.is_aperio(first.description or ""):
            raise InvalidInput(f"{self.path.name}: not an Aperio SVS (no Aperio ImageDescription)")
        self._level_pages = [p for p in pages if p.is_tiled]
        self._associated_pages = {
            kind: page for kind, page in ((self._kind_of(i, p), p) for i, p in enumerate(pages))
            if kind is not None
        }
        self._tables = [p.jpegtables for p in self._level_pages]
        self.metadata: SlideMetadata = aperio.metadata_from(first.description, first.iccprofile)
        self.levels: list[Level] = [self._level_of(p) for p in self._level_pages]

    def _check_complete(self, size: int) -> None:
        for index, page in enumerate(self._level_pages):
            ends = [o + c for o, c in zip(page.dataoffsets, page.databytecounts) if c]
            if ends and max(ends) > size:
                raise InvalidInput(f"{self.path.name}: truncated (tiles of level {index} run "
                                   f"past the end of the file)")

    def _kind_of(self, index: int, page: tifffile.TiffPage) -> Associated | None:
        if page.is_tiled:
            return None
        second_line = (page.description or "").split("\n")[1:2]
        word = second_line[0].split(" ")[0] if second_line else ""
        if word == "label":
            return Associated.LABEL
        if word == "macro":
            return Associated.OVERVIEW
        return Associated.THUMBNAIL if index == 1 else None

    def _level_of(self, page: tifffile.TiffPage) -> Level:
        codec, photometric = self._coding(page)
        base = self._level_pages[0]
        return Level(
            px_width=page.imagewidth, px_height=page.imagelength,
            tile_width=page.tilewidth, tile_height=page.tilelength,
            codec=codec, photometric=photometric,
            downsample=base.imagewidth / page.imagewidth,
        )

    def _coding(self, page: tifffile.TiffPage) -> tuple[Codec, str]:
        compression = int(page.compression)
        first = self._first_tile(page)
        if compression == _JPEG:
            if int(page.photometric) == _PHOTOMETRIC_RGB:
                return Codec.JPEG, "RGB"
            if int(page.photometric) != _PHOTOMETRIC_YCBCR:
                raise Unsupported(f"{self.path.name}: JPEG tiles with photometric "
                                  f"{page.photometric!r}")
            sampling = jpeg.luma_sampling(jpeg.merge_tables(first, page.jpegtables))
            return Codec.JPEG, "YBR_FULL" if sampling == (1, 1) else "YBR_FULL_422"
        if compression in (_J2K_YCBCR, _J2K_RGB):
            return Codec.JPEG2000, jpeg.j2k_photometric(first, compression == _J2K_YCBCR)
        raise Unsupported(f"{self.path.name}: tile compression {page.compression!r} "
                          "(only JPEG and JPEG 2000 move without re-encoding)")

    def _first_tile(self, page: tifffile.TiffPage) -> bytes:
        for offset, count in zip(page.dataoffsets, page.databytecounts):
            if count:
                self._tiff.filehandle.seek(offset)
                return self._tiff.filehandle.read(count)
        raise InvalidInput(f"{self.path.name}: a pyramid level has no tiles")

    def read_frame(self, level: int, tile_x: int, tile_y: int) -> bytes | None:
        """The tile as a complete stream (tables merged, RGB marked), or None if missing."""
        page = self._level_pages[level]
        index = tile_y * self.levels[level].tiles_across + tile_x
        count = page.databytecounts[index]
        if not count:
            return None
        return self._as_frame(level, self._pread(count, page.dataoffsets[index]))

    def read_row(self, level: int, tile_y: int) -> list[bytes | None]:
        """A tile row with one read when its tiles lie together in the file."""
        page, across = self._level_pages[level], self.levels[level].tiles_across
        spans = [(int(page.dataoffsets[i]), int(page.databytecounts[i]))
                 for i in range(tile_y * across, (tile_y + 1) * across)]
        present = [(o, c) for o, c in spans if c]
        if not present:
            return [None] * across
        start = min(o for o, _ in present)
        end = max(o + c for o, c in present)
        if end - start > ROW_READ_LIMIT or end - start > 2 * sum(c for _, c in present):
            return [self.read_frame(level, x, tile_y) for x in range(across)]
        view = memoryview(self._pread(end - start, start))
        return [self._as_frame(level, view[o - start:o - start + c]) if c else None
                for o, c in spans]

    def _pread(self, count: int, offset: int) -> bytes:
        data = os.pread(self._fd, count, offset)
        if len(data) != count:
            raise InvalidInput(f"{self.path.name}: truncated (a tile runs past the end)")
        return data

    def _as_frame(self, level: int, tile: bytes | memoryview) -> bytes:
        if self.levels[level].codec is not Codec.JPEG:
            return bytes(tile)
        frame = jpeg.merge_tables(tile, self._tables[level])
        if self.levels[level].photometric == "RGB" and not jpeg.has_colour_marker(frame):
            frame = jpeg.add_rgb_marker(frame)
        return frame

    def present_tiles(self, level: int) -> Iterator[tuple[int, int]]:
        """Tiles with a non-zero byte count, row by row."""
        across = self.levels[level].tiles_across
        for index, count in enumerate(self._level_pages[level].databytecounts):
            if count:
                yield index % across, index // across

    def level_bytes(self, level: int) -> int:
        """Tile bytes plus the tables merged into each."""
        counts = self._level_pages[level].databytecounts
        extra = len(self._tables[level] or b"") + len(jpeg.ADOBE_RGB_MARKER)
        return int(sum(counts)) + extra * len(counts)

    def associated(self, kind: Associated) -> np.ndarray | None:
        """Decoded thumbnail, label or macro (small images) as RGB."""
        page = self._associated_pages.get(kind)
        if page is None:
            return None
        pixels = page.asarray()
        if pixels.ndim == 2:
            pixels = np.stack([pixels] * 3, axis=-1)
        return np.ascontiguousarray(pixels[..., :3], dtype=np.uint8)

    def close(self) -> None:
        """Close the file handles."""
        os.close(self._fd)
        self._tiff.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
