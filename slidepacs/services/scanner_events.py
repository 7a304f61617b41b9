"""Scanner events after the receiver parsed them: a bounded queue, one writer thread that
appends every event to the rotating event log and stores errors and worse in the index, the
receiver's counters, and queries and CSV export for the fronts."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path

from slidepacs.domain.scanner_events import (
    CSV_HEADER,
    EventFilter,
    ScannerEvent,
    Severity,
    csv_line,
    csv_row,
)
from slidepacs.errors import SlidepacsError, StorageFailure
from slidepacs.index.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)
LOG_FILE = "events.log"
BATCH_EVENTS = 1000
COUNTERS_LOG_SECONDS = 60.0
EXPORT_PAGE = 1000


class RotatingEventLog:
    """Appends lines to ``<folder>/events.log``; past ``max_bytes`` it becomes
    ``events.log.1`` (older ones shift up) so at most ``files`` files exist."""

    def __init__(self, folder: Path, max_bytes: int, files: int) -> None:
        self.path = folder / LOG_FILE
        self.max_bytes = max_bytes
        self.files = files
        folder.mkdir(parents=True, exist_ok=True)
        self._handle = self.path.open("ab")
        self._size = self._handle.tell()

    def write(self, line: bytes) -> None:
        """Append one line (ending in LF), rotating first if it would overflow the file."""
        if self._size and self._size + len(line) > self.max_bytes:
            self._rotate()
        self._handle.write(line)
        self._size += len(line)

    def flush(self) -> None:
        """Hand what was written to the operating system."""
        self._handle.flush()

    def close(self) -> None:
        """Flush and close the current file."""
        self._handle.close()

    def _rotate(self) -> None:
        self._handle.close()
        oldest = self.path.with_name(f"{LOG_FILE}.{self.files - 1}")
        if self.files == 1:
            oldest = self.path
        oldest.unlink(missing_ok=True)
        for number in range(self.files - 2, 0, -1):
            older = self.path.with_name(f"{LOG_FILE}.{number}")
            if older.exists():
                older.rename(self.path.with_name(f"{LOG_FILE}.{number + 1}"))
        if self.files > 1:
            self.path.rename(self.path.with_name(f"{LOG_FILE}.1"))
        self._handle = self.path.open("ab")
        self._size = 0


@dataclass(frozen=True)
class ReceiverCounters:
    """What the event receiver has seen since it started."""

    received: int = 0
    by_severity: dict[str, int] = field(default_factory=dict)
    logged: int = 0
    stored: int = 0
    index_failures: int = 0
    malformed: int = 0
    oversized: int = 0
    connections_open: int = 0
    connections: int = 0
    connections_refused: int = 0
    tls_failures: int = 0
    queued: int = 0
    running: bool = False

    def summary(self) -> str:
        """One line for the log."""
        return (f"{self.received} event(s) received, {self.logged} logged, {self.stored} "
                f"stored in the index ({self.index_failures} index failure(s)), "
                f"{self.malformed} malformed, {self.oversized} oversized, "
                f"{self.connections} connection(s) ({self.connections_open} open, "
                f"{self.connections_refused} refused, {self.tls_failures} TLS failure(s))")


class ScannerEventService:
    """Takes parsed events into a bounded queue (``offer`` accepts what fits, so a reader
    waits instead of buffering), writes them from one thread, and answers queries."""

    def __init__(self, unit_of_work: UnitOfWork, folder: Path, queue_events: int,
                 log_file_bytes: int, log_files: int,
                 counters_log_seconds: float = COUNTERS_LOG_SECONDS) -> None:
        self._uow = unit_of_work
        self.counters_log_seconds = counters_log_seconds
        self.folder = folder
        self.capacity = queue_events
        self._log_file_bytes = log_file_bytes
        self._log_files = log_files
        self._queue: deque[ScannerEvent] = deque()
        self._ready = threading.Condition()
        self._idle = threading.Condition(self._ready)
        self._busy = 0
        self._counts_lock = threading.Lock()
        self._counters = ReceiverCounters(by_severity={s.label: 0 for s in Severity})
        self._thread: threading.Thread | None = None
        self._stopping = False

    # -- the writer ------------------------------------------------------------------------
    def start(self) -> None:
        """Open the event log and start the writer thread."""
        try:
            event_log = RotatingEventLog(self.folder, self._log_file_bytes, self._log_files)
        except OSError as exc:
            raise StorageFailure(f"cannot open the event log in {self.folder} ({exc})") from None
        self._stopping = False
        self._count(running=True)
        self._thread = threading.Thread(target=self._write_until_stopped, args=(event_log,),
                                        name="scanner-event-writer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Write what is queued, stop the writer and log the counters."""
        with self._ready:
            self._stopping = True
            self._ready.notify_all()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self._count(running=False)
        log.info("event receiver stopped: %s", self.counters().summary())

    def offer(self, events: Sequence[ScannerEvent]) -> int:
        """Queue as many of ``events`` as fit; return how many (the caller retries the rest)."""
        with self._ready:
            room = max(0, self.capacity - len(self._queue) - self._busy)
            taken = events[:room]
            self._queue.extend(taken)
            if taken:
                self._ready.notify()
        return len(taken)

    def wait_idle(self, timeout: float) -> bool:
        """Wait until everything offered is written; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._queue or self._busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(left)
        return True

    def _write_until_stopped(self, event_log: RotatingEventLog) -> None:
        last_logged = time.monotonic()
        logged_summary = self.counters().summary()
        try:
            while (batch := self._next_batch()) is not None:
                if batch:
                    self._write(event_log, batch)
                    with self._idle:
                        self._busy = 0
                        self._idle.notify_all()
                if time.monotonic() - last_logged >= self.counters_log_seconds:
                    last_logged = time.monotonic()
                    summary = self.counters().summary()
                    if summary != logged_summary:
                        log.info("event receiver: %s", summary)
                        logged_summary = summary
        finally:
            event_log.close()

    def _next_batch(self) -> list[ScannerEvent] | None:
        """The next events to write ([] after a second without any); None once stopped and
        drained."""
        with self._ready:
            if not self._queue:
                if self._stopping:
                    return None
                self._ready.wait(min(1.0, self.counters_log_seconds))
                if not self._queue:
                    return []
            count = min(BATCH_EVENTS, len(self._queue))
            self._busy = count
            return [self._queue.popleft() for _ in range(count)]

    def _write(self, event_log: RotatingEventLog, batch: list[ScannerEvent]) -> None:
        logged = 0
        try:
            for event in batch:
                event_log.write(json.dumps(event.log_record(), ensure_ascii=False,
                                           default=str).encode("utf-8") + b"\n")
                logged += 1
            event_log.flush()
        except OSError as exc:
            log.error("cannot write the event log %s: %s", event_log.path, exc)
        severe = [event for event in batch if event.indexed]
        stored = failures = 0
        if severe:
            try:
                with self._uow.write() as repo:
                    repo.scanner_events.add_many(severe)
                stored = len(severe)
            except SlidepacsError as exc:
                failures = 1
                log.error("cannot store %d scanner event(s) in the index: %s", len(severe), exc)
        by_severity: dict[str, int] = {}
        for event in batch:
            by_severity[event.severity.label] = by_severity.get(event.severity.label, 0) + 1
        self._add(received=len(batch), logged=logged, stored=stored, index_failures=failures,
                  by_severity=by_severity)

    # -- counters --------------------------------------------------------------------------
    def counters(self) -> ReceiverCounters:
        """A snapshot of the counters (with the current queue length)."""
        with self._counts_lock:
            snapshot = replace(self._counters, by_severity=dict(self._counters.by_severity))
        return replace(snapshot, queued=len(self._queue) + self._busy)

    def count(self, **increments: int) -> None:
        """Add to the receiver's counters (``malformed=1``, ``connections_refused=1``, …)."""
        self._add(**increments)

    def _add(self, by_severity: dict[str, int] | None = None, **increments: int) -> None:
        with self._counts_lock:
            current = self._counters
            values = {name: getattr(current, name) + delta for name, delta in increments.items()}
            severities = dict(current.by_severity)
            for label, delta in (by_severity or {}).items():
                severities[label] = severities.get(label, 0) + delta
            self._counters = replace(current, by_severity=severities, **values)

    def _count(self, running: bool) -> None:
        with self._counts_lock:
            self._counters = replace(self._counters, running=running)

    # -- queries ---------------------------------------------------------------------------
    def find(self, wanted: EventFilter) -> tuple[list[ScannerEvent], int]:
        """(matching stored events newest first, how many match in all)."""
        with self._uow.read() as repo:
            return repo.scanner_events.find(wanted), repo.scanner_events.count(wanted)

    def export_csv(self, wanted: EventFilter) -> Iterator[str]:
        """CSV text of every matching stored event (header first), read page by page."""
        yield csv_line(CSV_HEADER)
        if wanted.until is None:  # pages stay put while new events arrive
            wanted = replace(wanted, until=datetime.now(timezone.utc))
        offset = wanted.offset
        remaining = wanted.limit
        while remaining > 0:
            page = replace(wanted, offset=offset, limit=min(EXPORT_PAGE, remaining))
            with self._uow.read() as repo:
                events = repo.scanner_events.find(page)
            for event in events:
                yield csv_line(csv_row(event))
            if len(events) < page.limit:
                return
            offset += len(events)
            remaining -= len(events)
