"""The Events admin page's API under ``/viewer/api/admin/events`` (lab admins and admins):
stored scanner events (errors and worse) with filters, their CSV export, and the event
receiver's live counters. A bad parameter gets 400 naming it."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse

from slidepacs.bootstrap import AppContext
from slidepacs.domain.scanner_events import EventFilter, ScannerEvent, event_filter
from slidepacs.errors import InvalidInput
from slidepacs.web.access import LAB_ROLES, AccessPolicy, SessionRequired

MAX_PAGE = 1000
MAX_EXPORT = 1_000_000


def events_router(app: AppContext, policy: AccessPolicy) -> APIRouter:
    """Routes of the Events admin page (mounted under ``/viewer/api``)."""
    router = APIRouter(prefix="/admin", tags=["browser UI: administration"],
                       dependencies=[Depends(SessionRequired(policy, *LAB_ROLES))])

    def wanted(scanner: str = Query("", max_length=64), severity: str = Query("", max_length=16),
               since: str = Query("", max_length=40), until: str = Query("", max_length=40),
               limit: int = Query(100, ge=1, le=MAX_EXPORT), offset: int = Query(0, ge=0)
               ) -> EventFilter:
        return event_filter(scanner, severity, since, until, limit, offset)

    @router.get("/events", summary="Stored scanner events (errors and worse), newest first")
    def events(chosen: EventFilter = Depends(wanted)) -> dict[str, Any]:  # noqa: B008
        if chosen.limit > MAX_PAGE:
            raise InvalidInput(f"limit: at most {MAX_PAGE} events a page")
        found, total = app.scanner_events.find(chosen)
        return {"total": total, "limit": chosen.limit, "offset": chosen.offset,
                "events": [event_json(event) for event in found]}

    @router.get("/events.csv", summary="The same events as CSV (all of them by default)")
    def events_csv(chosen: EventFilter = Depends(wanted),  # noqa: B008
                   limit: int = Query(MAX_EXPORT, ge=1, le=MAX_EXPORT)) -> StreamingResponse:
        rows = app.scanner_events.export_csv(EventFilter(
            chosen.scanner, chosen.severity, chosen.since, chosen.until, limit, chosen.offset))
        return StreamingResponse(rows, media_type="text/csv; charset=utf-8", headers={
            "Content-Disposition": 'attachment; filename="scanner-events.csv"'})

    @router.get("/events/receiver", summary="The event receiver's counters since it started")
    def receiver() -> dict[str, Any]:
        settings = app.settings.events
        return {**asdict(app.scanner_events.counters()), "host": settings.host,
                "port": settings.port, "tls_port": settings.tls_port,
                "enabled": settings.enabled}

    return router


def event_json(event: ScannerEvent) -> dict[str, Any]:
    """An event for the page."""
    return {"received": event.received_at.isoformat(),
            "time": event.event_time.isoformat() if event.event_time else None,
            "scanner": event.scanner, "severity": event.severity.label,
            "severity_number": int(event.severity), "code": event.code,
            "message": event.message, "address": event.address, "format": event.source_format}
