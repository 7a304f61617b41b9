"""Scanner events as NDJSON lines to the event receiver (SPEC §2: TCP 6662 plain, 6663 TLS).

Events are queued and written by a background thread that reconnects with backoff. Scanning
never waits for the receiver: the queue is bounded and, when full, the oldest events are
dropped and counted.
"""

from __future__ import annotations

import json
import logging
import socket
import ssl
import threading
from collections import deque
from datetime import datetime, timezone
from typing import Any

from slidepacs.simulator.backoff import Backoff

log = logging.getLogger(__name__)
QUEUE_EVENTS = 1000


def event_line(scanner: str, severity: str, code: str, message: str, **fields: Any) -> bytes:
    """One event as a JSON line (docs/scanner-api.md "Event receiver")."""
    event = {"time": now_iso(), "scanner": scanner, "severity": severity, "code": code,
             "message": message, **fields}
    return (json.dumps(event, separators=(",", ":")) + "\n").encode()


def now_iso() -> str:
    """The current time, ISO 8601 in UTC with milliseconds and a Z."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class EventSender:
    """Sends queued event lines to ``host:port`` (TLS when ``tls`` is given)."""

    def __init__(self, host: str, port: int, tls: ssl.SSLContext | None = None,
                 limit: int = QUEUE_EVENTS, backoff: Backoff = Backoff(0.2, 10.0),
                 timeout: float = 10.0) -> None:
        self.host, self.port, self._tls = host, port, tls
        self._queue: deque[bytes] = deque()
        self._limit = limit
        self._backoff = backoff
        self._timeout = timeout
        self._ready = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.sent = 0
        self.dropped = 0

    def start(self) -> None:
        """Start the background writer."""
        self._thread = threading.Thread(target=self._run, name="scanner-events", daemon=True)
        self._thread.start()

    def send(self, line: bytes) -> None:
        """Queue one line; never blocks (drops the oldest queued line when full)."""
        with self._ready:
            if len(self._queue) >= self._limit:
                self._queue.popleft()
                self.dropped += 1
            self._queue.append(line)
            self._ready.notify()

    @property
    def pending(self) -> int:
        """Lines queued and not yet written."""
        with self._ready:
            return len(self._queue)

    def stop(self, flush_seconds: float = 2.0) -> None:
        """Give queued lines up to ``flush_seconds`` to go out, then stop the writer."""
        with self._ready:
            self._ready.wait_for(lambda: not self._queue or self._thread is None,
                                 timeout=flush_seconds)
        self._stop.set()
        with self._ready:
            self._ready.notify_all()
        if self._thread is not None:
            self._thread.join(self._timeout)

    def _run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            try:
                connection = self._connect()
                try:
                    failures = 0
                    self._write_queued(connection)
                finally:
                    _close_gracefully(connection, self._timeout)
            except OSError as exc:
                failures += 1
                log.debug("event receiver %s:%s: %s", self.host, self.port, exc)
                self._backoff.wait(failures, self._stop)

    def _connect(self) -> socket.socket:
        raw = socket.create_connection((self.host, self.port), timeout=self._timeout)
        if self._tls is None:
            return raw
        try:
            return self._tls.wrap_socket(raw, server_hostname=self.host)
        except (OSError, ssl.SSLError):
            raw.close()
            raise

    def _write_queued(self, connection: socket.socket) -> None:
        """Write lines as they come; a line is dropped from the queue once written."""
        while not self._stop.is_set():
            with self._ready:
                self._ready.wait_for(lambda: self._queue or self._stop.is_set(), timeout=1.0)
                if not self._queue:
                    continue
                line = self._queue[0]
            connection.sendall(line)
            with self._ready:
                if self._queue and self._queue[0] is line:
                    self._queue.popleft()
                    self.sent += 1
                self._ready.notify_all()


def _close_gracefully(connection: socket.socket, timeout: float) -> None:
    """Close after the receiver has everything: half-close, then read until it closes.
    A plain close with unread data (TLS 1.3 session tickets the server sent) would reset
    the connection, and the receiver could lose the last lines still in its buffer."""
    try:
        connection.settimeout(min(timeout, 5.0))
        connection.shutdown(socket.SHUT_WR)
        while connection.recv(4096):
            pass
    except (OSError, ValueError):
        pass
    finally:
        connection.close()
