"""Rows of scanner events (errors and worse; every event is in the event log file)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Select, func, insert, select
from sqlalchemy.orm import Session

from slidepacs.domain.scanner_events import EventFilter, ScannerEvent, Severity
from slidepacs.index.tables import ScannerEventTable
from slidepacs.index.times import aware


class ScannerEventRepository:
    """Scanner events in the index (the caller's unit of work commits)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def add_many(self, events: Sequence[ScannerEvent]) -> None:
        """Insert ``events`` in one statement."""
        if not events:
            return
        self.session.execute(insert(ScannerEventTable), [
            {"received_at": e.received_at, "event_time": e.event_time,
             "scanner": e.scanner[:64], "severity": int(e.severity), "code": e.code[:64],
             "message": e.message, "address": e.address[:64],
             "source_format": e.source_format[:8]} for e in events])

    def find(self, wanted: EventFilter) -> list[ScannerEvent]:
        """Matching events, newest first, ``wanted.limit`` from ``wanted.offset``."""
        statement = _filtered(select(ScannerEventTable), wanted).order_by(
            ScannerEventTable.received_at.desc(), ScannerEventTable.pk.desc()
        ).limit(wanted.limit).offset(wanted.offset)
        return [_event(row) for row in self.session.scalars(statement)]

    def count(self, wanted: EventFilter) -> int:
        """How many events match (limit and offset ignored)."""
        statement = _filtered(select(func.count()).select_from(ScannerEventTable), wanted)
        return int(self.session.scalar(statement) or 0)


def _filtered(statement: Select, wanted: EventFilter) -> Select:
    table = ScannerEventTable
    if wanted.scanner is not None:
        statement = statement.where(table.scanner == wanted.scanner)
    if wanted.severity is not None:
        statement = statement.where(table.severity <= int(wanted.severity))
    if wanted.since is not None:
        statement = statement.where(table.received_at >= wanted.since)
    if wanted.until is not None:
        statement = statement.where(table.received_at < wanted.until)
    return statement


def _event(row: ScannerEventTable) -> ScannerEvent:
    received_at = aware(row.received_at)
    assert received_at is not None
    return ScannerEvent(received_at, aware(row.event_time), row.scanner, Severity(row.severity),
                        row.code, row.message, row.address, row.source_format)
