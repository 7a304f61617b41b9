"""``slidepacs events list``: a filtered table, CSV to a file or standard output, and a bad
filter refused naming it."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from slidepacs.bootstrap import build_context
from slidepacs.config import settings_for
from slidepacs.domain.scanner_events import ScannerEvent, Severity
from tests.cli import run_slidepacs, toml_config

T0 = (datetime.now(timezone.utc) - timedelta(days=2)).replace(microsecond=0)


@pytest.fixture
def cwd(tmp_path: Path) -> Path:
    """A configuration whose index holds four events of two scanners."""
    folder = tmp_path / "cwd"
    toml_config(folder, tmp_path / "data")
    app = build_context(settings_for(tmp_path / "data"))
    try:
        with app.unit_of_work.write() as repo:
            repo.scanner_events.add_many([
                ScannerEvent(T0 + timedelta(hours=n), None, scanner, severity, f"CODE{n}",
                             f"=message {n}", "10.1.1.1", "json")
                for n, (scanner, severity) in enumerate([
                    ("Lab 1", Severity.ERROR), ("Lab 2", Severity.CRITICAL),
                    ("Lab 1", Severity.EMERGENCY), ("Lab 1", Severity.ERROR)])])
    finally:
        app.close()
    return folder


def test_list_filters_by_scanner_and_severity(cwd: Path) -> None:
    result = run_slidepacs("events", "list", "--scanner", "Lab 1", "--severity", "critical",
                           cwd=cwd)
    assert result.returncode == 0, result.stderr
    assert "CODE2" in result.stdout and "emergency" in result.stdout
    assert "CODE0" not in result.stdout and "CODE1" not in result.stdout
    assert "(1 of 1)" in result.stdout


def test_csv_to_a_file_and_to_standard_output(cwd: Path) -> None:
    since = (T0 + timedelta(hours=1)).isoformat()
    result = run_slidepacs("events", "list", "--since", since, "--csv", "out.csv", cwd=cwd)
    assert result.returncode == 0, result.stderr
    rows = list(csv.reader((cwd / "out.csv").open(encoding="utf-8", newline="")))
    assert [row[4] for row in rows[1:]] == ["CODE3", "CODE2", "CODE1"]
    assert rows[1][5] == "'=message 3"  # no formula in a spreadsheet
    result = run_slidepacs("events", "list", "--csv", "-", "--limit", "2", cwd=cwd)
    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert rows[0][0] == "received" and [row[4] for row in rows[1:]] == ["CODE3", "CODE2"]


def test_a_bad_time_is_refused_naming_the_option(cwd: Path) -> None:
    result = run_slidepacs("events", "list", "--until", "next week", cwd=cwd)
    assert result.returncode == 1
    assert "until:" in result.stderr and "not an ISO 8601" in result.stderr
