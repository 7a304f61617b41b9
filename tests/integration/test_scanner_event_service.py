"""The scanner event service on SQLite and PostgreSQL: every event in the rotating event log,
errors and worse in the index, filtered queries, CSV export, and index failures survived."""

from __future__ import annotations

import csv
import io
import json
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import text

from slidepacs.bootstrap import AppContext
from slidepacs.domain.scanner_events import EventFilter, ScannerEvent, Severity
from slidepacs.services.scanner_events import ScannerEventService

T0 = (datetime.now(timezone.utc) - timedelta(days=30)).replace(second=0, microsecond=0)


def _event(number: int, scanner: str = "Lab 1", severity: Severity = Severity.ERROR,
           message: str = "") -> ScannerEvent:
    return ScannerEvent(T0 + timedelta(minutes=number), None, scanner, severity,
                        f"C{number}", message or f"event {number}", "10.0.0.1", "json",
                        {"rack": number})


def _service(app: AppContext, folder: Path, log_bytes: int = 1 << 20,
             files: int = 3) -> ScannerEventService:
    service = ScannerEventService(app.unit_of_work, folder, 100, log_bytes, files)
    service.start()
    return service


def _offer_all(service: ScannerEventService, events: list[ScannerEvent]) -> None:
    while events:
        events = events[service.offer(events):]
        service.wait_idle(10)
    assert service.wait_idle(10)


def _log_lines(folder: Path) -> list[dict]:
    return [json.loads(line) for path in sorted(folder.glob("events.log*"))
            for line in path.read_text(encoding="utf-8").splitlines()]


def test_every_event_is_logged_and_only_errors_and_worse_are_indexed(
        app: AppContext, tmp_path: Path) -> None:
    service = _service(app, tmp_path / "events")
    events = [_event(n, severity=Severity(n % 8)) for n in range(16)]
    _offer_all(service, events)
    service.stop()
    logged = _log_lines(tmp_path / "events")
    assert [line["code"] for line in logged] == [f"C{n}" for n in range(16)]
    assert logged[0]["rack"] == 0 and logged[3]["severity"] == "error"
    stored, total = service.find(EventFilter(limit=100))
    assert total == 8 and {e.severity for e in stored} == {Severity(s) for s in range(4)}
    counters = service.counters()
    assert (counters.received, counters.logged, counters.stored) == (16, 16, 8)
    assert counters.by_severity["debug"] == 2 and not counters.running


def test_the_log_rotates_and_keeps_log_files_files(app: AppContext, tmp_path: Path) -> None:
    folder = tmp_path / "events"
    service = _service(app, folder, log_bytes=2000, files=3)
    _offer_all(service, [_event(n, severity=Severity.INFO, message="x" * 100)
                         for n in range(200)])
    service.stop()
    names = sorted(path.name for path in folder.iterdir())
    assert names == ["events.log", "events.log.1", "events.log.2"]
    assert all(path.stat().st_size <= 2000 for path in folder.iterdir())
    newest = [json.loads(line)["code"] for line in
              (folder / "events.log").read_text().splitlines()]
    assert newest[-1] == "C199"
    previous = (folder / "events.log.1").read_text().splitlines()
    assert json.loads(previous[-1])["code"] == f"C{199 - len(newest)}"


def test_filters_by_scanner_severity_and_time_newest_first(app: AppContext,
                                                           tmp_path: Path) -> None:
    service = _service(app, tmp_path / "events")
    _offer_all(service, [_event(0, "Lab 1", Severity.ERROR), _event(1, "Lab 2", Severity.ALERT),
                         _event(2, "Lab 1", Severity.CRITICAL), _event(3, "Lab 1", Severity.ERROR),
                         _event(4, "lab 1", Severity.EMERGENCY)])
    service.stop()
    found, total = service.find(EventFilter(scanner="Lab 1"))
    assert [e.code for e in found] == ["C3", "C2", "C0"] and total == 3
    found, total = service.find(EventFilter(severity=Severity.CRITICAL))
    assert [e.code for e in found] == ["C4", "C2", "C1"]
    found, _ = service.find(EventFilter(since=T0 + timedelta(minutes=1),
                                        until=T0 + timedelta(minutes=3)))
    assert [e.code for e in found] == ["C2", "C1"]
    found, total = service.find(EventFilter(limit=2, offset=1))
    assert [e.code for e in found] == ["C3", "C2"] and total == 5
    assert found[0].received_at == T0 + timedelta(minutes=3)


def test_csv_export_has_a_header_and_every_filtered_row(app: AppContext,
                                                        tmp_path: Path) -> None:
    service = _service(app, tmp_path / "events")
    _offer_all(service, [_event(n, "=evil" if n % 2 else "Lab 1") for n in range(2500)])
    service.stop()
    rows = list(csv.reader(io.StringIO("".join(service.export_csv(
        EventFilter(scanner="=evil", limit=1_000_000))))))
    assert rows[0] == ["received", "time", "scanner", "severity", "code", "message", "address",
                       "format"]
    assert len(rows) == 1251 and {row[2] for row in rows[1:]} == {"'=evil"}
    assert rows[1][4] == "C2499" and rows[-1][4] == "C1"


def test_an_index_failure_is_counted_and_the_event_is_still_logged(
        app: AppContext, tmp_path: Path) -> None:
    with app.engine.begin() as connection:
        connection.execute(text("DROP TABLE scanner_events"))
    service = _service(app, tmp_path / "events")
    _offer_all(service, [_event(1)])
    _offer_all(service, [_event(2, severity=Severity.INFO)])
    service.stop()
    assert [line["code"] for line in _log_lines(tmp_path / "events")] == ["C1", "C2"]
    counters = service.counters()
    assert (counters.index_failures, counters.stored, counters.logged) == (1, 0, 2)


@pytest.mark.parametrize("capacity_events", [150])
def test_offer_takes_only_what_fits_while_the_writer_is_stopped(
        app: AppContext, tmp_path: Path, capacity_events: int) -> None:
    service = ScannerEventService(app.unit_of_work, tmp_path / "events", capacity_events,
                                  1 << 20, 2)
    events = [_event(n, severity=Severity.INFO) for n in range(400)]
    assert service.offer(events) == capacity_events
    assert service.offer(events) == 0 and service.counters().queued == capacity_events
    service.start()
    assert service.wait_idle(10)
    service.stop()
    assert len(_log_lines(tmp_path / "events")) == capacity_events


def test_changed_counters_are_logged_periodically_and_at_stop(
        app: AppContext, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    service = ScannerEventService(app.unit_of_work, tmp_path / "events", 100, 1 << 20, 2,
                                  counters_log_seconds=0.2)
    with caplog.at_level("INFO", logger="slidepacs.services.scanner_events"):
        service.start()
        service.count(malformed=2, connections_refused=1)  # no event: the writer still logs
        deadline = time.monotonic() + 5
        while "2 malformed" not in caplog.text and time.monotonic() < deadline:
            time.sleep(0.05)
        periodic = caplog.text.count("2 malformed")
        time.sleep(0.6)  # unchanged: not logged again
        assert caplog.text.count("2 malformed") == periodic == 1
        service.stop()
    assert "event receiver stopped: 0 event(s) received" in caplog.text
    assert "1 refused" in caplog.text
