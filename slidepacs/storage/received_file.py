"""A data set being received (a C-STORE's, a STOW-RS part's) into the file the store will take
over by renaming it.

Neither announces the data set's size, so the way of writing is chosen as it grows:

- **held**: up to :data:`HELD_BYTES` (most radiology images) the data set is kept in a reused
  page-aligned buffer. When complete, a background thread writes its whole blocks with
  ``O_DIRECT`` (the tail through the page cache) while the receiving thread hashes it; the
  store parses its header from the buffer (:meth:`ReceivedFile.held`).
- **direct**: a larger one goes on in buffers of :data:`HELD_BYTES`, each hashed and written
  with ``O_DIRECT`` by a thread of the file's own while the next one fills (at most
  :data:`IN_FLIGHT` at once), so memory does not grow with its size.
- **streamed**: where the file system refuses ``O_DIRECT`` (tmpfs, some network file systems),
  each fragment goes through the page cache as it arrives, hashed by a thread of its own once
  large, with a background ``fdatasync`` every :data:`WRITEBACK_BYTES`.

Through the page cache the receiving thread would pay for the copy and a page fault per new
page, more than the disk's own time (see :mod:`slidepacs.storage.direct_io`); with ``O_DIRECT``
it only waits. A stored file is seldom read back at once.

A held or direct file's ``fsync`` waits for :meth:`ReceivedFile.wait_durable`, which the store
calls just before its index commit, after renaming the file: on file systems with one journal
(ext4, XFS) it then shares a journal commit with the folder's ``fsync``.
"""

from __future__ import annotations

import hashlib
import logging
import mmap
import os
import queue
import threading
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from slidepacs.storage import direct_io
from slidepacs.storage.filesystem import CHECKSUM_ALGORITHM

log = logging.getLogger(__name__)

HELD_BYTES = 4 << 20  # held in memory up to this size; then written in buffers of this size
IN_FLIGHT = 2  # direct writes of one file under way at once
KEPT_BUFFERS = 8  # buffers kept for reuse while idle
WRITEBACK_BYTES = 32 << 20  # streamed: start writing to disk every 32 MiB received
HASH_THREAD_BYTES = 4 << 20  # streamed: a file this large is hashed by a thread of its own
HASH_QUEUE = 16  # streamed: writes a hashing thread may lag behind
_background = ThreadPoolExecutor(max_workers=4, thread_name_prefix="received-write")
_buffers = direct_io.AlignedBuffers(HELD_BYTES, KEPT_BUFFERS)


class ReceivedFile:
    """A file being received (file-like, as pynetdicom uses it): see the module docstring.

    Writing never raises: pynetdicom writes from its protocol thread, where an exception
    ends the association without a word to the peer. A file that cannot be written (disk
    full, folder not writable) is removed at once, the rest of the data set is dropped, and
    :attr:`failure` tells the C-STORE handler, which answers with a failure status.

    :attr:`checksum` is complete after :meth:`close`. Whoever takes a received file over
    calls :meth:`release` when done with it.
    """

    def __init__(self, path: Path) -> None:
        self.name = str(path)
        self.size = 0
        self.failure: OSError | None = None
        self._digest = hashlib.new(CHECKSUM_ALGORITHM)
        self._buffer: mmap.mmap | None = _buffers.take()  # held, or the one filling (direct)
        self._filled = 0  # bytes in _buffer
        self._handed = 0  # bytes before _buffer, handed to the disk thread (direct)
        self._disk: ThreadPoolExecutor | None = None  # direct: the file's writing thread
        self._in_flight: deque[tuple[Future[None], mmap.mmap]] = deque()
        self._streamed = False
        self._hasher: _Hasher | None = None  # streamed, once large
        self._unsynced = 0  # streamed: bytes written since the last background sync
        self._sync: Future[None] | None = None  # streamed: the last background sync
        self._unsynced_fd = -1  # held or direct: written, closed by us, not yet fsynced
        try:
            # the file is usually made already (storage's spare files), empty
            self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        except OSError as exc:
            self._fd = -1
            self._fail(exc)

    @property
    def file(self) -> ReceivedFile:
        """pynetdicom flushes ``file.file``; nothing is buffered in Python."""
        return self

    @property
    def checksum(self) -> str:
        """The checksum of the data set (complete once closed)."""
        if self._hasher is not None:
            self._hasher.finish()
        return self._digest.hexdigest()

    def write(self, data: bytes | bytearray | memoryview) -> int:
        """Take all of ``data`` (dropped once writing has failed)."""
        view = memoryview(data)
        if self.failure is None:
            if self._streamed:
                self._write_streamed(view)
            else:
                self._fill(view)
        return len(view)

    def flush(self) -> None:
        """Nothing is buffered in Python."""

    def held(self) -> memoryview | None:
        """The whole data set, when it is held in memory (until :meth:`release`)."""
        if self._disk is not None or self._streamed or self.failure is not None:
            return None
        return None if self._buffer is None else memoryview(self._buffer)[:self._filled]

    def close(self) -> None:
        """Write what is still in memory (waiting for it), start the streamed data's sync,
        and finish hashing; again is harmless."""
        if self._fd < 0:
            if self._hasher is not None:
                self._hasher.finish()
            return
        if self._streamed:
            fd, self._fd = self._fd, -1
            self._sync = _background.submit(_sync_and_close, fd, self._sync)
            if self._hasher is not None:
                self._hasher.finish()
            return
        try:
            if self._disk is None:
                self._write_held()
            else:
                self._write_last()
        except OSError as exc:
            self._fail(exc)
        if self.failure is None:
            self._unsynced_fd, self._fd = self._fd, -1

    def wait_durable(self) -> None:
        """Block until everything written is on disk (closing first); OSError if not."""
        self.close()
        if self.failure is not None:
            raise self.failure
        if self._unsynced_fd >= 0:
            fd, self._unsynced_fd = self._unsynced_fd, -1
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        if self._sync is not None:
            self._sync.result()

    def release(self) -> None:
        """The receiver is done with the file: its buffer may be reused (and a file never
        waited for is closed)."""
        if self._unsynced_fd >= 0:
            fd, self._unsynced_fd = self._unsynced_fd, -1
            os.close(fd)
        buffer, self._buffer = self._buffer, None
        if buffer is not None:
            _buffers.give(buffer)

    # -- held and direct ----------------------------------------------------------------------
    def _fill(self, view: memoryview) -> None:
        """Copy ``view`` into the buffer, handing each full one to the disk while more comes."""
        while view:
            assert self._buffer is not None
            room = HELD_BYTES - self._filled
            if room == 0:
                self._hand_over()
                if self.failure is not None:
                    return
                if self._streamed:
                    self._write_streamed(view)
                    return
                continue
            piece = view[:room]
            self._buffer[self._filled:self._filled + len(piece)] = piece
            self._filled += len(piece)
            self.size += len(piece)
            view = view[len(piece):]

    def _hand_over(self) -> None:
        """The buffer is full and more is coming: write it with O_DIRECT by the file's own
        thread (hashed there first, in order), and go on in a new buffer."""
        if self._disk is None:
            if not direct_io.set_direct(self._fd, True):
                self._go_streamed()
                return
            self._disk = ThreadPoolExecutor(max_workers=1, thread_name_prefix="received-direct")
        self._collect(keep=IN_FLIGHT - 1)
        if self.failure is not None:
            return
        buffer, offset = self._buffer, self._handed
        assert buffer is not None
        self._in_flight.append(
            (self._disk.submit(self._hash_and_write, buffer, HELD_BYTES, offset), buffer))
        self._handed += HELD_BYTES
        self._buffer, self._filled = _buffers.take(), 0

    def _hash_and_write(self, buffer: mmap.mmap, length: int, offset: int) -> None:
        with memoryview(buffer) as view:
            self._digest.update(view[:length])
            direct_io.write_direct_then_buffered(self._fd, view[:length], offset)

    def _collect(self, keep: int) -> None:
        """Wait for the oldest direct writes until at most ``keep`` are under way; the first
        failure fails the file."""
        while len(self._in_flight) > keep:
            future, buffer = self._in_flight.popleft()
            error = future.exception()
            _buffers.give(buffer)
            if error is not None:
                self._fail(error if isinstance(error, OSError) else OSError(str(error)))
                return

    def _write_held(self) -> None:
        """The whole data set is held: write it (whole blocks directly) in the background
        while hashing it here (both release the GIL), and wait."""
        assert self._buffer is not None
        with memoryview(self._buffer) as view:
            data = view[:self._filled]
            writing = _background.submit(direct_io.write_direct_then_buffered, self._fd, data, 0)
            self._digest.update(data)
            writing.result()

    def _write_last(self) -> None:
        """Direct: write the last, partial buffer and wait for every write."""
        assert self._disk is not None and self._buffer is not None
        self._collect(keep=IN_FLIGHT - 1)
        if self.failure is not None:
            return
        self._in_flight.append((self._disk.submit(
            self._hash_and_write, self._buffer, self._filled, self._handed), self._buffer))
        self._buffer = None
        self._collect(keep=0)
        self._disk.shutdown()

    # -- streamed -------------------------------------------------------------------------------
    def _go_streamed(self) -> None:
        """O_DIRECT is refused here: write what is held through the page cache, and the
        rest as it arrives."""
        buffer, self._buffer = self._buffer, None
        assert buffer is not None
        self._streamed = True
        with memoryview(buffer) as view:
            held = view[:self._filled]
            self._digest.update(held)
            try:
                direct_io.write_all(self._fd, held, 0)
                os.lseek(self._fd, self._filled, os.SEEK_SET)  # pwrite leaves the offset
            except OSError as exc:
                self._fail(exc)
        self._unsynced = self._filled
        _buffers.give(buffer)

    def _write_streamed(self, view: memoryview) -> None:
        if self._hasher is None and self.size + len(view) >= HASH_THREAD_BYTES:
            self._hasher = _Hasher(self._digest)
        if self._hasher is not None:
            self._hasher.update(view)
        else:
            self._digest.update(view)
        written = 0
        try:
            while written < len(view):
                written += os.write(self._fd, view[written:])
        except OSError as exc:
            self._fail(exc)
            return
        self.size += written
        self._unsynced += written
        if self._unsynced >= WRITEBACK_BYTES and (self._sync is None or self._sync.done()):
            self._unsynced = 0
            self._sync = _background.submit(os.fdatasync, self._fd)

    # -- failure ------------------------------------------------------------------------------
    def _fail(self, error: OSError) -> None:
        """Give up on this data set: remember why and free its space now."""
        self.failure = error
        log.warning("cannot write the data set being received to %s: %s", self.name,
                    error.strerror or error)
        for future, buffer in self._in_flight:  # they still use the descriptor
            future.exception()
            _buffers.give(buffer)
        self._in_flight.clear()
        if self._disk is not None:
            self._disk.shutdown()
        if self._hasher is not None:
            self._hasher.finish()
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


def _sync_and_close(fd: int, earlier: Future[None] | None) -> None:
    try:
        if earlier is not None:
            earlier.exception()  # wait; a failed early sync is retried by this one
        os.fsync(fd)
    finally:
        os.close(fd)
