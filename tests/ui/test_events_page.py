"""The Events admin page in Chromium: events filtered by scanner and severity, and the CSV
export link downloading exactly the filtered rows."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta, timezone
from pathlib import Path

from playwright.sync_api import Page, expect

from slidepacs.domain.scanner_events import ScannerEvent, Severity
from tests.ui.conftest import Ui, log_in, screenshot

EVENTS = [("GT450 Lab 1", Severity.ERROR, "QC_FAILED", "Focus quality below threshold"),
          ("GT450 Lab 2", Severity.CRITICAL, "TRAY_JAM", "Rack 3 jammed at slot 17"),
          ("GT450 Lab 1", Severity.EMERGENCY, "LAMP", "Illumination failed"),
          ("GT450 Lab 1", Severity.ERROR, "BARCODE", "Barcode unreadable, slot 4")]


def _store(ui: Ui) -> None:
    start = datetime.now(timezone.utc) - timedelta(hours=1)
    with ui.app.unit_of_work.write() as repo:
        repo.scanner_events.add_many([
            ScannerEvent(start + timedelta(minutes=n), None, scanner, severity, code, message,
                         "10.20.0.5", "json")
            for n, (scanner, severity, code, message) in enumerate(EVENTS)])
    ui.app.scanner_events.count(malformed=3, oversized=1, connections=5)


def test_the_events_page_filters_and_exports_csv(page: Page, ui: Ui) -> None:
    _store(ui)
    log_in(page, ui, hash_route="#/admin/events")
    rows = page.locator("#events-table tbody tr")
    expect(rows).to_have_count(4)
    expect(page.locator("#events-counters [data-counter=malformed] b")).to_have_text("3")
    page.fill("#events-form input[name=scanner]", "GT450 Lab 1")
    page.select_option("#events-form select[name=severity]", "critical")
    page.click("#events-form button[type=submit]")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("LAMP")
    expect(rows.first.locator(".severity")).to_have_text("emergency")
    assert "scanner=GT450+Lab+1" in page.url and "severity=critical" in page.url
    screenshot(page, "admin-events")
    with page.expect_download() as download:
        page.click("#events-csv")
    text = Path(download.value.path()).read_text(encoding="utf-8")
    table = list(csv.reader(io.StringIO(text)))
    assert table[0][:5] == ["received", "time", "scanner", "severity", "code"]
    assert [(row[2], row[4]) for row in table[1:]] == [("GT450 Lab 1", "LAMP")]
    page.click("#events-clear")
    expect(rows).to_have_count(4)
    page.select_option("#events-form select[name=severity]", "error")
    page.fill("#events-form input[name=scanner]", "GT450 Lab 2")
    page.click("#events-form button[type=submit]")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("TRAY_JAM")
