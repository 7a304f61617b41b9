"""The Events admin API on SQLite and PostgreSQL: roles, filters, 400 naming a bad parameter,
the CSV export with the same filters, and the receiver's counters."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta, timezone

import httpx

from slidepacs.domain.scanner_events import ScannerEvent, Severity
from tests.web import test_admin_api
from tests.web.conftest import Web
from tests.web.test_admin_api import Client

T0 = (datetime.now(timezone.utc) - timedelta(days=3)).replace(microsecond=0)


# the admin API's fixtures: an archive with an admin, a lab admin and a user, logged in
site, chief, labby, reader = (test_admin_api.site, test_admin_api.chief, test_admin_api.labby,
                              test_admin_api.reader)


def _store(site: Web) -> None:
    events = [ScannerEvent(T0 + timedelta(hours=n), None, scanner, severity, f"C{n}",
                           f"message {n}", "10.0.0.9", "json")
              for n, (scanner, severity) in enumerate([
                  ("Lab 1", Severity.ERROR), ("Lab 2", Severity.CRITICAL),
                  ("Lab 1", Severity.ALERT), ("Lab 1", Severity.ERROR)])]
    with site.app.unit_of_work.write() as repo:
        repo.scanner_events.add_many(events)


def test_events_are_listed_and_filtered_for_lab_admins(site: Web, labby: Client) -> None:
    _store(site)
    body = labby.call("GET", "events").json()
    assert body["total"] == 4 and [e["code"] for e in body["events"]] == ["C3", "C2", "C1", "C0"]
    assert body["events"][0]["severity"] == "error" and body["events"][0]["scanner"] == "Lab 1"
    body = labby.call("GET", "events?scanner=Lab%201&severity=critical").json()
    assert [e["code"] for e in body["events"]] == ["C2"]
    since = (T0 + timedelta(hours=1)).isoformat().replace("+00:00", "Z")
    body = labby.call("GET", f"events?since={since}&limit=2&offset=1").json()
    assert body["total"] == 3 and [e["code"] for e in body["events"]] == ["C2", "C1"]


def test_a_bad_parameter_is_400_naming_it(site: Web, chief: Client) -> None:
    for query, name in [("severity=loud", "severity"), ("since=tuesday", "since"),
                        ("until=2026-13-01", "until"), ("limit=0", "limit"),
                        ("limit=5000", "limit"), ("offset=-1", "offset")]:
        response = chief.call("GET", f"events?{query}")
        assert response.status_code == 400, query
        assert name in response.json()["detail"], (query, response.text)


def test_the_csv_export_uses_the_same_filters(site: Web, chief: Client) -> None:
    _store(site)
    response = chief.call("GET", "events.csv?scanner=Lab%201&severity=error")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[0][:4] == ["received", "time", "scanner", "severity"]
    assert [row[4] for row in rows[1:]] == ["C3", "C2", "C0"]


def test_the_receiver_counters_are_shown(site: Web, chief: Client) -> None:
    site.app.scanner_events.count(malformed=2, connections_refused=1)
    body = chief.call("GET", "events/receiver").json()
    assert body["malformed"] == 2 and body["connections_refused"] == 1
    assert body["running"] is False and body["port"] == site.app.settings.events.port


def test_users_and_anonymous_callers_may_not_read_events(site: Web, reader: Client) -> None:
    for path in ["events", "events.csv", "events/receiver"]:
        assert reader.call("GET", path).status_code == 403, path
        base = site.root.removesuffix("/dicom-web")
        assert httpx.get(f"{base}/viewer/api/admin/{path}").status_code == 401, path
