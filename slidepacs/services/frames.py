"""Frames of stored instances (WADO-RS frames, tile servers): one index lookup to find an
instance's file, then one positioned read per piece of each frame, without parsing the file.

Where each frame lies is recorded at ingest (:mod:`slidepacs.dicom.frames`); an instance
indexed before that has its file walked once, the first time a frame is asked for, and its
map recorded. Unpacked maps are kept in a small cache by the file's storage path: stored
files never change (a new version of an instance is a new file), so entries never go stale.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from slidepacs.dicom.frames import FrameMap, Piece
from slidepacs.dicom.header import read_frame_map
from slidepacs.errors import IndexFailure, InvalidInput, NotFound, StorageFailure, Unsupported
from slidepacs.index.frames import FrameFiles, FrameSource
from slidepacs.index.unit_of_work import UnitOfWork
from slidepacs.storage import BlobStore

log = logging.getLogger(__name__)
CACHED_MAPS = 256
CACHED_BYTES = 64 << 20


@dataclass(frozen=True, slots=True)
class FrameLocation:
    """Where the asked frames of one instance lie: ``pieces`` maps each frame number (from
    1) to its (offset, length) byte ranges in ``path``, in file order; None when the frames
    cannot be located without parsing the file (read them with pydicom instead)."""

    path: Path
    transfer_syntax_uid: str
    pieces: Mapping[int, tuple[Piece, ...]] | None


class FrameService:
    """Locates and reads the encoded frames of stored instances."""

    def __init__(self, unit_of_work: UnitOfWork, store: BlobStore,
                 cache: MapCache | None = None, files: FrameFiles | None = None) -> None:
        self._uow = unit_of_work
        self._store = store
        self._cache = cache if cache is not None else MapCache()
        self._files = files

    def locate(self, study_instance_uid: str, series_instance_uid: str,
               sop_instance_uid: str, frame_numbers: Sequence[int] | None) -> FrameLocation:
        """Where frames ``frame_numbers`` (from 1; None: all) of an instance lie; NotFound
        for an instance not in that series and study, or a frame number it does not have."""
        located = self.locate_mapped(study_instance_uid, series_instance_uid,
                                     sop_instance_uid, frame_numbers)
        if located is not None:
            return located
        source, frames = self._load((study_instance_uid, series_instance_uid, sop_instance_uid))
        return self._location(source, frames, frame_numbers)

    def locate_mapped(self, study_instance_uid: str, series_instance_uid: str,
                      sop_instance_uid: str,
                      frame_numbers: Sequence[int] | None) -> FrameLocation | None:
        """As :meth:`locate` when the instance's frame map is already cached (one indexed
        lookup, no more), else None: loading a map may take long, call :meth:`locate`."""
        uids = (study_instance_uid, series_instance_uid, sop_instance_uid)
        source = _checked(self._file_of(sop_instance_uid), uids)
        cached, frames = self._cache.get(source.relpath)
        return self._location(source, frames, frame_numbers) if cached else None

    def read(self, location: FrameLocation, frame_number: int) -> bytes:
        """The bytes of one located frame, still encoded (one positioned read per piece)."""
        pieces = _pieces(location, frame_number)
        fd = _open(location.path)
        try:
            return _read_pieces(fd, pieces, location.path)
        finally:
            os.close(fd)

    def read_all(self, location: FrameLocation) -> Iterator[tuple[int, bytes]]:
        """Every located frame as (number, bytes), in the order asked, opening the file once."""
        numbers = list(_located(location))
        fd = _open(location.path)
        try:
            for number in numbers:
                yield number, _read_pieces(fd, _pieces(location, number), location.path)
        finally:
            os.close(fd)

    def _file_of(self, sop_instance_uid: str) -> FrameSource | None:
        if self._files is not None:
            return self._files.source(sop_instance_uid)
        with self._uow.read() as repo:
            return repo.frames.frame_map(sop_instance_uid, load_map=False)

    def _load(self, uids: tuple[str, str, str]) -> tuple[FrameSource, FrameMap | None]:
        """The instance's map from the index (walking its file once if it has none), cached."""
        with self._uow.read() as repo:
            source = _checked(repo.frames.frame_map(uids[2]), uids)
        packed = source.frame_map if source.mapped else self._backfill(source)
        try:
            frames = None if packed is None else FrameMap.unpack(packed)
        except InvalidInput as exc:
            raise IndexFailure(f"frame map of instance {uids[2]} is unusable ({exc})") from None
        self._cache.put(source.relpath, frames)
        return source, frames

    def _backfill(self, source: FrameSource) -> bytes | None:
        """Map the frames of an instance indexed before frame maps were, and record it."""
        path = self._store.path(source.relpath)
        try:
            packed = read_frame_map(path)
        except InvalidInput as exc:
            raise StorageFailure(f"stored file {source.relpath} cannot be read ({exc})") from None
        with self._uow.write() as repo:
            repo.frames.save(source.instance_pk, source.relpath, packed)
        log.info("recorded the frame map of %s", source.relpath)
        return packed

    def _location(self, source: FrameSource, frames: FrameMap | None,
                  frame_numbers: Sequence[int] | None) -> FrameLocation:
        count = len(frames) if frames is not None else (source.number_of_frames or 1)
        if frame_numbers is None:
            frame_numbers = range(1, count + 1)
        for number in frame_numbers:
            if not 1 <= number <= count:
                raise NotFound(f"instance has no frame {number} (its frames are 1 to {count})"
                               if count else "instance has no frames")
        pieces = None if frames is None else {n: frames.pieces(n - 1) for n in frame_numbers}
        return FrameLocation(self._store.path(source.relpath), source.transfer_syntax_uid,
                             pieces)


class MapCache:
    """The most recently used unpacked frame maps by storage path, bounded in number and
    bytes; safe to share between threads."""

    def __init__(self, entries: int = CACHED_MAPS, size: int = CACHED_BYTES) -> None:
        self._entries = entries
        self._size = size
        self._maps: OrderedDict[str, tuple[FrameMap | None, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, relpath: str) -> tuple[bool, FrameMap | None]:
        """(True, the map cached for ``relpath``; None when not mappable), else (False, None)."""
        with self._lock:
            entry = self._maps.get(relpath)
            if entry is None:
                return False, None
            self._maps.move_to_end(relpath)
            return True, entry[0]

    def put(self, relpath: str, frames: FrameMap | None) -> None:
        """Remember a map, dropping the least recently used ones beyond the bounds."""
        size = 0 if frames is None else frames.nbytes
        with self._lock:
            old = self._maps.pop(relpath, None)
            self._bytes += size - (old[1] if old else 0)
            self._maps[relpath] = (frames, size)
            while len(self._maps) > self._entries or (self._bytes > self._size
                                                      and len(self._maps) > 1):
                _, (_, dropped) = self._maps.popitem(last=False)
                self._bytes -= dropped


def _checked(source: FrameSource | None, uids: tuple[str, str, str]) -> FrameSource:
    study, series, sop = uids
    if source is None or (source.study_instance_uid, source.series_instance_uid) != (
            study, series):
        raise NotFound(f"no instance {sop} in series {series} of study {study}")
    return source


def _located(location: FrameLocation) -> Mapping[int, tuple[Piece, ...]]:
    if location.pieces is None:
        raise Unsupported(f"the frames of {location.path.name} cannot be located without "
                          "parsing the file")
    return location.pieces


def _pieces(location: FrameLocation, frame_number: int) -> tuple[Piece, ...]:
    pieces = _located(location).get(frame_number)
    if pieces is None:
        raise NotFound(f"frame {frame_number} was not located")
    return pieces


def _open(path: Path) -> int:
    try:
        return os.open(path, os.O_RDONLY)
    except OSError as exc:
        raise StorageFailure(f"cannot open {path} ({exc.strerror or exc})") from None


def _read_pieces(fd: int, pieces: tuple[Piece, ...], path: Path) -> bytes:
    try:
        parts = [os.pread(fd, length, offset) for offset, length in pieces]
    except OSError as exc:
        raise StorageFailure(f"cannot read {path} ({exc.strerror or exc})") from None
    for (offset, length), part in zip(pieces, parts):
        if len(part) != length:
            raise StorageFailure(f"{path} ends before byte {offset + length}: it is not the "
                                 "file the index describes")
    return parts[0] if len(parts) == 1 else b"".join(parts)
