"""Where received C-STORE data sets are written while they arrive.

pynetdicom writes each incoming data set to a ``NamedTemporaryFile`` in the system's
temporary folder (``STORE_RECV_CHUNKED_DATASET``), and the store then copies it into the
archive. An AE that has an ``incoming_path`` callable (slidepacs' listeners) instead gets a
:class:`ReceivedFile` at that path, inside the first storage location, hashed as the bytes
arrive: the store can then take the file over by renaming it, with no second copy and no
second read. Every other AE in the process keeps pynetdicom's behaviour.

pynetdicom only lets this be chosen where it creates the file, so its module-level
``NamedTemporaryFile`` is replaced once, by a function that looks at the association of the
thread that receives (pynetdicom's DUL thread).
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import logging
import mmap
import os
import queue
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from pynetdicom import dimse_messages

from slidepacs.storage.filesystem import CHECKSUM_ALGORITHM

log = logging.getLogger(__name__)


WRITEBACK_BYTES = 32 << 20  # start writing a large file to disk every 32 MiB received
HASH_THREAD_BYTES = 4 << 20  # a file this large is hashed by a thread of its own
HASH_QUEUE = 16  # writes a hashing thread may lag behind
HELD_BYTES = 4 << 20  # a data set up to this size is held in memory and written once complete
DIRECT_ALIGNMENT = 4096  # O_DIRECT writes whole blocks from aligned memory
KEPT_BUFFERS = 8  # held-data buffers kept for reuse while idle
_syncer = ThreadPoolExecutor(max_workers=4, thread_name_prefix="received-fsync")


class _HeldBuffers:
    """Page-aligned buffers of :data:`HELD_BYTES` for data sets held in memory, reused: a new
    buffer's pages each cost a page fault when first touched (about 10 µs apiece on a
    virtual machine whose host takes freed memory back), a reused one's cost nothing."""

    def __init__(self, keep: int = KEPT_BUFFERS) -> None:
        self._free: list[mmap.mmap] = []
        self._keep = keep
        self._lock = threading.Lock()

    def take(self) -> mmap.mmap:
        """A buffer of the caller's own."""
        with self._lock:
            if self._free:
                return self._free.pop()
        return mmap.mmap(-1, HELD_BYTES)

    def give(self, buffer: mmap.mmap) -> None:
        """Take a buffer back (the caller no longer uses it or any view of it)."""
        with self._lock:
            if len(self._free) < self._keep:
                self._free.append(buffer)
                return
        try:
            buffer.close()
        except BufferError:  # a view of it is still alive somewhere: the collector frees it
            pass


_buffers = _HeldBuffers()


class ReceivedFile:
    """A file being received, hashed as it is written (file-like, as pynetdicom uses it).

    A data set of up to :data:`HELD_BYTES` (most radiology images) is held in memory while
    it arrives (:meth:`held`: the header is parsed from there) and written by a background
    thread when complete: one ``O_DIRECT`` write of its whole blocks, straight from the
    buffer to the disk, the tail through the page cache, then ``fsync``. Writing through the
    page cache costs the receiving thread the copy plus a page fault per new page, more
    than the disk's own write time on virtual machines; and a stored file is seldom read
    back soon. Where ``O_DIRECT`` is refused (tmpfs, some network file systems) all of it
    goes through the page cache.

    A larger data set's data reach the disk while it arrives: every :data:`WRITEBACK_BYTES`
    a background ``fdatasync`` starts, and :meth:`close` starts the last one, so that the
    store's wait for durability (:meth:`wait_durable`) overlaps with parsing and indexing.

    Once a file grows past :data:`HASH_THREAD_BYTES`, the rest is hashed by a thread of its
    own (:class:`_Hasher`), so that hashing a large data set overlaps receiving and writing it.

    Writing never raises: pynetdicom writes from its protocol thread, where an exception
    ends the association without a word to the peer. A file that cannot be written (disk
    full, folder not writable) is removed at once, the rest of the data set is dropped, and
    :attr:`failure` tells the C-STORE handler, which answers with a failure status.

    Whoever takes a received file over calls :meth:`release` when done with it.
    """

    def __init__(self, path: Path) -> None:
        self.name = str(path)
        self._digest = hashlib.new(CHECKSUM_ALGORITHM)
        self.size = 0
        self.failure: OSError | None = None
        self._unsynced = 0
        self._sync: Future[None] | None = None
        self._hasher: _Hasher | None = None
        self._held: mmap.mmap | None = _buffers.take()
        self._unsynced_fd = -1  # a held data set written, not yet fsynced
        try:
            # the file is usually made already (storage's spare files), empty
            self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        except OSError as exc:
            self._fd = -1
            self._fail(exc)

    @property
    def file(self) -> ReceivedFile:
        """pynetdicom flushes ``file.file``; writes here are unbuffered already."""
        return self

    @property
    def checksum(self) -> str:
        """The checksum of everything written so far."""
        if self._hasher is not None:
            self._hasher.finish()
        return self._digest.hexdigest()

    def write(self, data: bytes | bytearray | memoryview) -> int:
        """Hash and write all of ``data`` (or drop it once writing has failed)."""
        view = memoryview(data)
        if self.failure is not None:
            return len(view)
        if self._hasher is None and self.size + len(view) >= HASH_THREAD_BYTES:
            self._hasher = _Hasher(self._digest)
        if self._hasher is not None:
            self._hasher.update(view)
        else:
            self._digest.update(view)
        if self._held is not None:
            if self.size + len(view) <= HELD_BYTES:
                self._held[self.size:self.size + len(view)] = view
                self.size += len(view)
                return len(view)
            self._spill()
            if self.failure is not None:
                return len(view)
        written = 0
        try:
            while written < len(view):
                written += os.write(self._fd, view[written:])
        except OSError as exc:
            self._fail(exc)
            return len(view)
        self.size += written
        self._unsynced += written
        if self._unsynced >= WRITEBACK_BYTES and (self._sync is None or self._sync.done()):
            self._unsynced = 0
            self._sync = _syncer.submit(os.fdatasync, self._fd)
        return len(view)

    def flush(self) -> None:
        """Nothing is buffered."""

    def held(self) -> memoryview | None:
        """The whole data set, when it is held in memory (until :meth:`release`)."""
        if self._held is None or self.failure is not None:
            return None
        return memoryview(self._held)[:self.size]

    def close(self) -> None:
        """Start writing what is held, making the data durable, close, and finish hashing
        (again is harmless)."""
        if self._fd >= 0:
            fd, self._fd = self._fd, -1
            if self._held is not None:
                self._write_held(fd)
            else:
                self._sync = _syncer.submit(_sync_and_close, fd, self._sync)
        if self._hasher is not None:
            self._hasher.finish()

    def release(self) -> None:
        """The receiver is done with :meth:`held`'s data: its buffer may be reused (and a
        file never waited for is closed)."""
        if self._unsynced_fd >= 0:
            fd, self._unsynced_fd = self._unsynced_fd, -1
            os.close(fd)
        held, self._held = self._held, None
        if held is not None:
            _buffers.give(held)

    def wait_durable(self) -> None:
        """Block until everything written is on disk (after :meth:`close`); OSError if not."""
        if self.failure is not None:
            raise self.failure
        self.close()
        if self._unsynced_fd >= 0:
            fd, self._unsynced_fd = self._unsynced_fd, -1
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        if self._sync is not None:
            self._sync.result()

    def _spill(self) -> None:
        """The data set outgrew :data:`HELD_BYTES`: write what is held and go on unheld."""
        assert self._held is not None
        held, self._held = self._held, None
        try:
            with memoryview(held) as view:
                _write_all(self._fd, view[:self.size], 0)
            os.lseek(self._fd, self.size, os.SEEK_SET)  # pwrite leaves the offset
        except OSError as exc:
            self._fail(exc)
        self._unsynced = self.size
        _buffers.give(held)

    def _write_held(self, fd: int) -> None:
        """Write the held data set (whole blocks directly: the disk's time, no CPU, the GIL
        released). Its fsync waits for :meth:`wait_durable`, so that it shares the file
        system's journal commit with the store's folder fsync after its rename."""
        assert self._held is not None
        try:
            with memoryview(self._held) as view:
                _write_direct_then_buffered(fd, view[:self.size])
        except OSError as exc:
            os.close(fd)
            self._fail(exc)
            return
        self._unsynced_fd = fd

    def _fail(self, error: OSError) -> None:
        """Give up on this data set: remember why and free its space now."""
        self.failure = error
        if self._hasher is not None:
            self._hasher.finish()
        log.warning("cannot write the data set being received to %s: %s", self.name,
                    error.strerror or error)
        if self._fd >= 0:
            fd, self._fd = self._fd, -1
            if self._sync is not None:
                self._sync.exception()  # an early sync still uses the descriptor
            os.close(fd)
        try:
            os.unlink(self.name)
        except OSError:
            pass


class _Hasher:
    """Feeds a digest from a thread of its own, in order (hashing releases the GIL)."""

    def __init__(self, digest: Any) -> None:
        self._digest = digest
        self._pending: queue.Queue[bytes | None] = queue.Queue(maxsize=HASH_QUEUE)
        self._thread: threading.Thread | None = threading.Thread(
            target=self._run, name="received-hash", daemon=True)
        self._thread.start()

    def update(self, data: memoryview) -> None:
        """Queue a copy of ``data`` (the caller may reuse its buffer); waits while full."""
        self._pending.put(bytes(data))

    def finish(self) -> None:
        """Wait until everything queued is hashed (again is harmless)."""
        if self._thread is not None:
            self._pending.put(None)
            self._thread.join()
            self._thread = None

    def _run(self) -> None:
        while (data := self._pending.get()) is not None:
            self._digest.update(data)


def _write_direct_then_buffered(fd: int, data: memoryview) -> None:
    """Write ``data`` at the start of the empty file ``fd``: its whole blocks with
    ``O_DIRECT`` (``data`` must be page-aligned), the rest (or all of it, where the file
    system refuses ``O_DIRECT``) through the page cache."""
    whole = len(data) - len(data) % DIRECT_ALIGNMENT
    done = 0
    if whole and _set_direct(fd, True):
        try:
            done = _write_all(fd, data[:whole], 0)
        except OSError as exc:
            if exc.errno != errno.EINVAL:
                raise
            done = 0  # refused after all: everything through the page cache
        finally:
            _set_direct(fd, False)
    _write_all(fd, data[done:], done)


def _set_direct(fd: int, on: bool) -> bool:
    """Turn ``O_DIRECT`` on or off for ``fd``; False if the file system refuses it."""
    try:
        flags = fcntl.fcntl(fd, fcntl.F_GETFL)
        fcntl.fcntl(fd, fcntl.F_SETFL, flags | os.O_DIRECT if on else flags & ~os.O_DIRECT)
    except OSError:
        return False
    return True


def _write_all(fd: int, data: memoryview, offset: int) -> int:
    """``pwrite`` all of ``data`` at ``offset``; the bytes written."""
    written = 0
    while written < len(data):
        written += os.pwrite(fd, data[written:], offset + written)
    return written


def _sync_and_close(fd: int, earlier: Future[None] | None) -> None:
    try:
        if earlier is not None:
            earlier.exception()  # wait; a failed early sync is retried by this one
        os.fsync(fd)
    finally:
        os.close(fd)


_named_temporary_file = dimse_messages.NamedTemporaryFile


def _received_file(*args: Any, **kwargs: Any) -> Any:
    """The file pynetdicom writes a C-STORE data set to (see the module docstring)."""
    association = getattr(threading.current_thread(), "assoc", None)
    incoming_path = getattr(getattr(association, "ae", None), "incoming_path", None)
    if incoming_path is None:
        return _named_temporary_file(*args, **kwargs)
    return ReceivedFile(incoming_path())


def discard_unhandled_datasets(association: Any) -> None:
    """Remove the files of data sets no handler will see: one whose receipt was cut off,
    and complete ones still queued when the association ended. (pynetdicom removes a file
    after its handler returns, and never the others.)"""
    receiver = getattr(getattr(association, "dul", None), "store_receiver", None)
    if receiver is not None:
        receiver.discard()
    dimse = getattr(association, "dimse", None)
    files = [getattr(getattr(dimse, "message", None), "_data_set_file", None)]
    queue = getattr(dimse, "msg_queue", None)
    while queue is not None and not queue.empty():
        _context, primitive = queue.get_nowait()
        files.append(getattr(primitive, "_dataset_file", None))
    for received in files:
        if received is not None:
            _remove(received)


def _remove(received: Any) -> None:
    try:
        received.close()
    except OSError:
        pass
    if isinstance(received, ReceivedFile):
        received.release()
    try:
        os.unlink(received.name)
        log.info("removed a data set received but not stored (%s)", received.name)
    except FileNotFoundError:
        pass
    except OSError as exc:
        log.warning("cannot remove %s: %s", received.name, exc)


if dimse_messages.NamedTemporaryFile is not _received_file:
    dimse_messages.NamedTemporaryFile = _received_file  # type: ignore[assignment]
