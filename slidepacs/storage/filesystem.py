"""Mirrored filesystem storage: every file lands in the data path and each backup path.

Writing is two-phase so the index can commit in between: :meth:`stage` streams the source
once into a temporary file in every location (hashing as it goes) and fsyncs them;
:meth:`publish` renames them to their final names and fsyncs the folders. Only then does
the caller commit the index. A crash before the rename leaves only ``*.tmp`` files, which
:meth:`sweep_temporary` removes; a crash after it leaves an unindexed file that the next
store of the same object replaces.

A temporary's name records which host and process writes it, so a sweep (``storage verify
--repair``) run while the archive is receiving never deletes a write still in progress.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import shutil
import socket
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from slidepacs.errors import InvalidInput, StorageFailure
from slidepacs.storage.direct_io import AlignedBuffers, write_direct_then_buffered
from slidepacs.storage.spare_files import SpareFiles

CHUNK = 1 << 20
TEMP_SUFFIX = ".tmp"
INCOMING = ".incoming"  # received data waiting to be ingested (temporaries, swept like others)
STORED_SUFFIX = ".dcm"
STALE_AFTER_SECONDS = 24 * 3600  # a temporary this old is swept even if its writer seems alive
_TEMPORARY = re.compile(r"\.(?P<host>[0-9a-f]{8})-(?P<pid>\d+)-[0-9a-f]{8}\.tmp$")
CHECKSUM_ALGORITHM = "sha256"
_copy_buffers = AlignedBuffers(CHUNK, keep=8)  # stage(): one per file being copied


@dataclass(frozen=True, slots=True)
class StagedFile:
    """A file written and fsynced under temporary names in every location, not yet visible."""

    relpath: str
    temporaries: tuple[Path, ...]
    size: int
    checksum: str
    durable: Callable[[], None] | None = None  # a sync still to wait for (see adopt)


@dataclass(frozen=True, slots=True)
class CopyProblem:
    """One location whose copy of a file is missing or differs from the index."""

    location: Path
    relpath: str
    problem: str


class MirroredFileStore:
    """A BlobStore over local or network folders, mirrored to every configured location."""

    def __init__(self, locations: Sequence[Path]) -> None:
        if not locations:
            raise StorageFailure("at least one storage location is required")
        self.locations = tuple(Path(p).resolve() for p in locations)
        self._spare = SpareFiles(self.incoming_path, functools.partial(self._incoming, "spare"))

    # -- writing ---------------------------------------------------------------------------
    def stage(self, source: Path, relpath: str, prefix: bytes = b"", offset: int = 0) -> StagedFile:
        """Copy ``prefix`` + ``source[offset:]`` to a temporary file in every location."""
        targets = [self.resolve(location, relpath) for location in self.locations]
        token = _writer_token()
        temporaries = tuple(t.with_name(f"{t.name}.{token}{TEMP_SUFFIX}") for t in targets)
        descriptors: list[int] = []
        try:
            for temporary in temporaries:
                temporary.parent.mkdir(parents=True, exist_ok=True)
                descriptors.append(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
            size, checksum = _copy_hashed(source, offset, prefix, descriptors)
            for descriptor in descriptors:
                os.fsync(descriptor)
        except OSError as exc:
            _close_all(descriptors)
            _remove_quietly(temporaries)
            raise StorageFailure(f"cannot write {relpath}: {exc.strerror or exc}") from None
        except BaseException:
            _close_all(descriptors)
            _remove_quietly(temporaries)
            raise
        _close_all(descriptors)
        return StagedFile(relpath, temporaries, size, checksum)

    def incoming_path(self) -> Path:
        """A new path in the first location for data being received, named like a temporary
        (so a sweep removes it if its writer dies) and on the same file system as the
        stored files, so that :meth:`adopt` can take it over by a rename."""
        return self._incoming("received")

    def _incoming(self, kind: str) -> Path:
        folder = self.locations[0] / INCOMING
        folder.mkdir(exist_ok=True)
        return folder / f"{kind}.{_writer_token()}{TEMP_SUFFIX}"

    def incoming_file(self) -> Path:
        """As :meth:`incoming_path`, but the file exists already (empty, made ahead by a
        background thread): a receiver opens it for writing without creating it."""
        return self._spare.take()

    def adopt(self, source: Path, relpath: str, checksum: str | None = None,
              durable: Callable[[], None] | None = None) -> StagedFile:
        """Stage ``source`` as it is by moving it (a file the caller hands over, at or
        under :meth:`incoming_path`) into the first location and copying it to the others; a file
        elsewhere is copied as :meth:`stage` does. ``checksum``, when the caller hashed the
        bytes while writing them, saves reading the file again; ``durable``, when the caller
        syncs the file itself, replaces this method's fsync: it blocks until the data are on
        disk (OSError if they cannot be). Where the file has no copies to make, its sync (the
        caller's or this method's) is left to :meth:`begin_publish`'s wait, so that it
        shares the journal commit of the folder's (and of the batch's other files) on file
        systems with one journal."""
        if self.locations[0] / INCOMING not in source.parents:
            return self.stage(source, relpath)
        targets = [self.resolve(location, relpath) for location in self.locations]
        token = _writer_token()
        temporaries = tuple(t.with_name(f"{t.name}.{token}{TEMP_SUFFIX}") for t in targets)
        descriptors: list[int] = []
        try:
            for temporary in temporaries:
                temporary.parent.mkdir(parents=True, exist_ok=True)
            os.replace(source, temporaries[0])
            for temporary in temporaries[1:]:
                descriptors.append(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
            if descriptors or checksum is None:  # one read: hash, and copy to the backups
                size, checksum = _copy_hashed(temporaries[0], 0, b"", descriptors)
            else:
                size = temporaries[0].stat().st_size
            if durable is None and descriptors:
                _fsync_file(temporaries[0])
            elif durable is None:  # synced when published (renamed to its final name by then)
                durable = functools.partial(_fsync_file, targets[0])
            elif descriptors:
                durable()
            for descriptor in descriptors:
                os.fsync(descriptor)
        except OSError as exc:
            _close_all(descriptors)
            _remove_quietly(temporaries)
            raise StorageFailure(f"cannot write {relpath}: {exc.strerror or exc}") from None
        except BaseException:
            _close_all(descriptors)
            _remove_quietly(temporaries)
            raise
        _close_all(descriptors)
        return StagedFile(relpath, temporaries, size, checksum,
                          durable if durable is not None and not descriptors else None)

    def publish(self, staged: Iterable[StagedFile]) -> None:
        """Rename staged files to their final names in every location, then fsync folders."""
        self.begin_publish(staged).wait()

    def begin_publish(self, staged: Iterable[StagedFile]) -> PendingPublish:
        """Rename staged files to their final names in every location and start fsyncing
        their folders in the background (so that the caller's index statements overlap the
        disk's wait); :meth:`PendingPublish.wait` before committing anything that refers
        to them. StorageFailure (nothing renamed) if a rename fails."""
        staged = list(staged)
        renamed: list[tuple[Path, Path]] = []
        try:
            for item in staged:
                for location, temporary in zip(self.locations, item.temporaries, strict=True):
                    final = self.resolve(location, item.relpath)
                    os.replace(temporary, final)
                    renamed.append((temporary, final))
        except OSError as exc:
            PendingPublish(renamed, []).undo()
            raise StorageFailure(f"cannot publish stored files: {exc.strerror or exc}") from None
        folders = {final.parent for _, final in renamed}
        return PendingPublish(renamed, [_folder_syncer.submit(_fsync_folder, f) for f in folders],
                              [item.durable for item in staged if item.durable is not None])

    def discard(self, staged: StagedFile) -> None:
        """Remove the temporary files of a staged file that will not be published."""
        _remove_quietly(staged.temporaries)

    def remove(self, relpath: str) -> None:
        """Delete a published file from every location (used to undo a failed index commit)."""
        for location in self.locations:
            _remove_quietly([self.resolve(location, relpath)])

    # -- reading ---------------------------------------------------------------------------
    def path(self, relpath: str) -> Path:
        """The path of the copy in the first location that has it."""
        for location in self.locations:
            candidate = self.resolve(location, relpath)
            if candidate.is_file():
                return candidate
        raise StorageFailure(f"{relpath} is missing from every storage location")

    def open(self, relpath: str) -> BinaryIO:
        """Open the first available copy for reading."""
        return self.path(relpath).open("rb")

    # -- checking --------------------------------------------------------------------------
    def check(self, relpath: str, size: int, checksum: str) -> list[CopyProblem]:
        """Compare every location's copy with the indexed size and checksum."""
        problems = []
        for location in self.locations:
            problem = _check_copy(self.resolve(location, relpath), size, checksum)
            if problem:
                problems.append(CopyProblem(location, relpath, problem))
        return problems

    def restore(self, relpath: str, good: Path, bad_location: Path) -> None:
        """Replace the copy in ``bad_location`` with the verified copy at ``good``."""
        target = self.resolve(bad_location, relpath)
        temporary = target.with_name(f"{target.name}.{_writer_token()}{TEMP_SUFFIX}")
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            with good.open("rb") as source, temporary.open("wb") as sink:
                shutil.copyfileobj(source, sink, CHUNK)
                sink.flush()
                os.fsync(sink.fileno())
            os.replace(temporary, target)
            _fsync_folder(target.parent)
        except OSError as exc:
            _remove_quietly([temporary])
            raise StorageFailure(f"cannot restore {target}: {exc.strerror or exc}") from None

    def sweep_temporary(self) -> int:
        """Delete temporary files left by interrupted writes; return how many.

        A temporary whose writer is still running on this host is kept, unless it is older
        than a day; one written from another host (shared storage) is kept for a day.
        """
        removed = 0
        now = time.time()
        for location in self.locations:
            for temporary in location.rglob(f"*{TEMP_SUFFIX}"):
                if _abandoned(temporary, now):
                    _remove_quietly([temporary])
                    removed += 1
        return removed

    def locations_with_files(self) -> list[Path]:
        """The locations that hold at least one stored file (stops at the first in each)."""
        return [location for location in self.locations if _any_stored_file(location)]

    def usage(self) -> dict[Path, int]:
        """Bytes used by stored files in each location."""
        return {location: sum(_sizes(location)) for location in self.locations}

    def resolve(self, location: Path, relpath: str) -> Path:
        """Join ``relpath`` to ``location``, refusing anything that would escape it."""
        pure = PurePosixPath(relpath)
        if pure.is_absolute() or not pure.parts or any(p in ("", ".", "..") for p in pure.parts):
            raise InvalidInput(f"storage path {relpath!r} escapes the storage location")
        target = location.joinpath(*pure.parts)
        if location not in target.parents:
            raise InvalidInput(f"storage path {relpath!r} escapes the storage location")
        return target


class PendingPublish:
    """Files renamed to their final names whose folders are being fsynced."""

    def __init__(self, renamed: list[tuple[Path, Path]], syncs: list[Future[None]],
                 files: Sequence[Callable[[], None]] = ()) -> None:
        self._renamed = renamed
        self._syncs = syncs
        self._files = files

    def wait(self) -> None:
        """Block until the files and their renames are durable; StorageFailure if a file or
        a folder cannot be synced."""
        for durable in self._files:
            try:
                durable()
            except OSError as exc:
                raise StorageFailure(f"cannot write stored files: {exc.strerror or exc}") from None
        for sync in self._syncs:
            try:
                sync.result()
            except OSError as exc:
                raise StorageFailure(f"cannot publish stored files: {exc.strerror or exc}") from None

    def undo(self) -> None:
        """Rename the files back to their temporary names (removed if that fails), as if
        never published; waits for the folder fsyncs still running."""
        for sync in self._syncs:
            sync.exception()
        for temporary, final in reversed(self._renamed):
            try:
                os.replace(final, temporary)
            except OSError:
                _remove_quietly([final])


_folder_syncer = ThreadPoolExecutor(max_workers=4, thread_name_prefix="folder-fsync")


@functools.cache
def _host_tag() -> str:
    return hashlib.blake2s(socket.gethostname().encode(), digest_size=4).hexdigest()


def _writer_token() -> str:
    """``<host>-<pid>-<random>``: who writes a temporary, and a unique part."""
    return f"{_host_tag()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def _abandoned(temporary: Path, now: float) -> bool:
    """True when no running process can still be writing ``temporary``."""
    try:
        age = now - temporary.stat().st_mtime
    except FileNotFoundError:
        return False
    match = _TEMPORARY.search(temporary.name)
    if match is None or age > STALE_AFTER_SECONDS:
        return True
    if match["host"] != _host_tag():
        return False
    return not _process_running(int(match["pid"]))


def _process_running(pid: int) -> bool:
    """True when ``pid`` is a live (not zombie) process on this host."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except (OSError, IndexError):
        return True
    return state not in ("Z", "X")


def _copy_hashed(
    source: Path, offset: int, prefix: bytes, descriptors: list[int]
) -> tuple[int, str]:
    """Write ``prefix`` + ``source[offset:]`` to every descriptor (whole buffers with
    ``O_DIRECT``, see :mod:`~slidepacs.storage.direct_io`); the size and checksum."""
    digest = hashlib.new(CHECKSUM_ALGORITHM)
    buffer = _copy_buffers.take()
    view = memoryview(buffer)
    size = 0
    try:
        with source.open("rb", buffering=0) as handle:
            handle.seek(offset)
            pending = memoryview(prefix)
            while True:
                filled = min(len(pending), CHUNK)
                view[:filled] = pending[:filled]
                pending = pending[filled:]
                while filled < CHUNK and (count := handle.readinto(view[filled:])):
                    filled += count
                if not filled:
                    break
                digest.update(view[:filled])
                for descriptor in descriptors:
                    write_direct_then_buffered(descriptor, view[:filled], size)
                size += filled
                if filled < CHUNK and not pending:
                    break
    finally:
        view.release()
        _copy_buffers.give(buffer)
    return size, digest.hexdigest()


def _check_copy(path: Path, size: int, checksum: str) -> str:
    try:
        actual_size = path.stat().st_size
    except FileNotFoundError:
        return "missing"
    except OSError as exc:
        return f"unreadable ({exc.strerror})"
    if actual_size != size:
        return f"size {actual_size} differs from indexed {size}"
    try:
        actual = file_checksum(path)
    except OSError as exc:
        return f"unreadable ({exc.strerror})"
    return "" if actual == checksum else "checksum differs from the index"


def file_checksum(path: Path) -> str:
    """The checksum (hex) of a file, as recorded in the index."""
    digest = hashlib.new(CHECKSUM_ALGORITHM)
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def write_atomically(target: Path, write: Callable[[Path], object]) -> Path:
    """Create or replace ``target`` with what ``write(temporary)`` writes: a temporary name
    in the same folder, fsynced, renamed over ``target``, folder fsynced. StorageFailure if
    it fails; then nothing is left behind."""
    folder = target.parent
    temporary = folder / f".{target.name}.{_writer_token()}{TEMP_SUFFIX}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        write(temporary)
        _fsync_file(temporary)
        os.replace(temporary, target)
        _fsync_folder(folder)
    except OSError as exc:
        _remove_quietly([temporary])
        raise StorageFailure(f"cannot write {target} ({exc.strerror or exc})") from None
    except BaseException:
        _remove_quietly([temporary])
        raise
    return target


def _fsync_file(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _fsync_folder(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _close_all(descriptors: list[int]) -> None:
    for descriptor in descriptors:
        try:
            os.close(descriptor)
        except OSError:
            pass
    descriptors.clear()


def _remove_quietly(paths: Iterable[Path]) -> None:
    """Remove temporaries (a folder too: a slide converted while importing); one that is gone
    or cannot be reached (its folder may not even be a folder) is left alone."""
    for path in paths:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
            continue
        try:
            path.unlink()
        except OSError:
            pass


def _any_stored_file(location: Path) -> bool:
    for _root, _dirs, files in os.walk(location):
        if any(name.endswith(STORED_SUFFIX) for name in files):
            return True
    return False


def _sizes(location: Path) -> Iterator[int]:
    for root, _dirs, files in os.walk(location):
        for name in files:
            if name.endswith(STORED_SUFFIX):
                try:
                    yield os.stat(os.path.join(root, name)).st_size
                except OSError:
                    continue
