"""Backpressure of the event receiver on SQLite and PostgreSQL: while the index is locked the
writer waits, its queue fills, the receiver stops reading and the sender's TCP send stalls;
nothing is dropped and the queue never holds more than ``queue_events``. Once the index is
free again, every line arrives."""

from __future__ import annotations

import json
import socket
import threading
import time
from pathlib import Path

from sqlalchemy import text

from slidepacs.bootstrap import AppContext
from slidepacs.config import EventSettings
from slidepacs.domain.scanner_events import EventFilter
from slidepacs.scanner.events import EventReceiver
from slidepacs.services.scanner_events import ScannerEventService
from tests.cli import closed_port

LINES = 40_000
CAPACITY = 100


def _payload() -> bytes:
    """An error first (the writer blocks on the index with it), then ~1 KB info lines."""
    lines = [json.dumps({"scanner": "S", "severity": "error", "code": "FIRST"})]
    lines += [json.dumps({"severity": "info", "code": f"L{n}", "message": "x" * 1000})
              for n in range(1, LINES)]
    return "\n".join(lines).encode() + b"\n"


def test_a_blocked_writer_stalls_the_sender_instead_of_buffering(app: AppContext,
                                                                  tmp_path: Path) -> None:
    service = ScannerEventService(app.unit_of_work, tmp_path / "events", CAPACITY, 1 << 30, 2)
    settings = EventSettings(port=closed_port(), tls_port=0)
    receiver = EventReceiver(service, settings, None)
    receiver.start()
    payload = _payload()
    sent = threading.Event()

    def send() -> None:
        with socket.create_connection(("127.0.0.1", settings.port), timeout=60) as connection:
            connection.sendall(payload)
        sent.set()

    sender = threading.Thread(target=send)
    try:
        with app.unit_of_work.write() as repo:  # the index's write lock, held
            repo.session.execute(text(  # SQLite: BEGIN IMMEDIATE is enough
                "LOCK TABLE scanner_events IN EXCLUSIVE MODE"
                if app.engine.dialect.name == "postgresql" else "SELECT 1"))
            sender.start()
            time.sleep(3)
            counters = service.counters()
            assert not sent.is_set(), "40 MB went through although nothing was written"
            assert counters.queued <= CAPACITY
            assert counters.received == 0
        sender.join(60)
        assert sent.is_set()
        deadline = time.monotonic() + 60  # the rest is still in the socket buffers
        while service.counters().logged < LINES and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        receiver.stop()
    logged = (tmp_path / "events" / "events.log").read_bytes().splitlines()
    assert len(logged) == LINES and json.loads(logged[-1])["code"] == f"L{LINES - 1}"
    found, total = service.find(EventFilter())
    assert total == 1 and found[0].code == "FIRST"
