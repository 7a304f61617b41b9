"""Empty files made ahead of need, for data being received.

Creating a file is the costliest single step of receiving a small instance on some file
systems (about a millisecond of kernel time on the test machines, against tens of
microseconds for a rename). A :class:`SpareFiles` keeps a few empty files ready in a folder,
made by a background thread, so that a receiver only opens one and writes: the creation is
off the path that the sender waits on. A spare is named ``spare.<writer>.tmp`` until it is
taken, then renamed to the receiver's name (a rename costs little); both are the store's
temporary names, so a sweep removes the ones left by a process that has gone.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)
SPARE_FILES = 8
WARN_EVERY_SECONDS = 60.0


class SpareFiles:
    """Hands out new, empty files under the names ``new_path`` gives; a daemon thread keeps
    ``spare`` of them made under the names ``spare_path`` gives."""

    def __init__(self, new_path: Callable[[], Path], spare_path: Callable[[], Path],
                 spare: int = SPARE_FILES) -> None:
        self._new_path = new_path
        self._spare_path = spare_path
        self._spare = spare
        self._ready: queue.SimpleQueue[Path] = queue.SimpleQueue()
        self._wanted = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._warned = float("-inf")

    def take(self) -> Path:
        """A new path of its own for the caller: an empty file, or, when no spare is ready,
        a file not made yet (the caller's open with ``O_CREAT`` makes it, and reports a
        failure its own way)."""
        self._start()
        self._wanted.set()
        target = self._new_path()
        try:
            os.rename(self._ready.get_nowait(), target)
        except (queue.Empty, FileNotFoundError):  # none ready, or swept meanwhile
            pass
        return target

    def _start(self) -> None:
        if self._thread is not None:
            return
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="spare-files",
                                                daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            self._wanted.wait()
            self._wanted.clear()
            try:
                while self._ready.qsize() < self._spare:
                    self._ready.put(_make(self._spare_path()))
            except OSError as exc:  # folder gone, no inodes: receivers make their own
                if time.monotonic() - self._warned > WARN_EVERY_SECONDS:
                    self._warned = time.monotonic()
                    log.warning("cannot make spare files for receiving: %s", exc)


def _make(path: Path) -> Path:
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
    return path
