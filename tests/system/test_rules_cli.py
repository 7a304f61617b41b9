"""``slidepacs rules …`` and ``slidepacs quarantine …`` through the real command, as an
administrator runs them (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from slidepacs.bootstrap import build_context
from slidepacs.config import load_settings
from slidepacs.domain.image_rules import SlideValues
from slidepacs.services.image_rules import ImageRulesService
from slidepacs.services.quarantine import QuarantineService
from slidepacs.testing.generators import write_ct_series
from tests.cli import run_slidepacs, toml_config


@pytest.fixture
def cwd(tmp_path: Path, database_url: str) -> Path:
    folder = tmp_path / "cwd"
    toml_config(folder, tmp_path / "data", database_url=database_url)
    return folder


def _ok(cwd: Path, *args: str) -> str:
    result = run_slidepacs(*args, cwd=cwd)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def _quarantine_one(cwd: Path, tmp_path: Path, barcode: str) -> int:
    """What ingest will do for a slide that breaks its rules (the hook comes later)."""
    app = build_context(load_settings(cwd / "slidepacs.toml"))
    try:
        rules = ImageRulesService(app.unit_of_work)
        quarantine = QuarantineService(app.unit_of_work, app.store, rules, app.ingest)
        [path] = write_ct_series(tmp_path / "in", 1, size=32)
        slide = SlideValues("104233", barcode, "Lab 1", date(2026, 11, 23))
        return quarantine.quarantine(path, "GT450_LAB1", slide, rules.apply("GT450_LAB1", slide))
    finally:
        app.close()


def test_rules_set_show_and_refuse_with_the_reason(cwd: Path) -> None:
    out = _ok(cwd, "rules", "set", "GT450_LAB1", "--barcode-regex", r"\d{6}",
              "--filename-template", "{IMAGEID}-{BARCODEID}", "--require-barcode")
    assert "version 1" in out and r"barcode_regex: '' → '\d{6}'" in out
    bad = run_slidepacs("rules", "set", "GT450_LAB1", "--modifier-regex", "[(.*)&$]",
                        "--modifier-format", "$1&", cwd=cwd)
    assert bad.returncode == 1
    assert "modifier_format: $1" in bad.stderr and len(bad.stderr.splitlines()) == 1
    shown = json.loads(_ok(cwd, "rules", "show", "--json"))
    assert shown[0]["barcode_regex"] == r"\d{6}" and shown[0]["modifier_regex"] == ""
    assert shown[0]["require_barcode"] is True and shown[0]["version"] == 1
    assert "1-123456" in _ok(cwd, "rules", "test", "GT450_LAB1", "--barcode", "S26-123456")
    log = (cwd.parent / "data" / "logs" / "slidepacs.log").read_text()
    assert "image rules of AE GT450_LAB1 set (version 1)" in log
    assert "organization: 'full' → 'sparse'" in _ok(cwd, "rules", "set", "GT450_LAB1",
                                                     "--organization", "sparse")
    diagonal = run_slidepacs("rules", "set", "GT450_LAB1", "--organization", "diagonal",
                             cwd=cwd)
    assert diagonal.returncode == 1 and "organization: 'diagonal'" in diagonal.stderr
    [shown] = json.loads(_ok(cwd, "rules", "show", "--json"))
    assert shown["organization"] == "sparse" and shown["version"] == 2


def test_quarantine_list_show_retry_and_delete(cwd: Path, tmp_path: Path) -> None:
    _ok(cwd, "rules", "set", "GT450_LAB1", "--barcode-regex", r"\d{6}", "--require-barcode")
    first = _quarantine_one(cwd, tmp_path / "a", "S26-12345")
    second = _quarantine_one(cwd, tmp_path / "b", "NO-BARCODE")
    listed = json.loads(_ok(cwd, "quarantine", "list", "--json"))
    assert [e["id"] for e in listed] == [first, second]
    assert "'S26-12345' has no match" in listed[0]["reason"]
    shown = _ok(cwd, "quarantine", "show", str(first))
    kept = Path(next(line for line in shown.splitlines()
                     if line.startswith("kept_at: ")).removeprefix("kept_at: "))
    assert kept.is_file() and kept.suffix == ".quarantined"

    _ok(cwd, "rules", "set", "GT450_LAB1", "--barcode-regex", r"\d{5}")
    out = _ok(cwd, "quarantine", "retry", "--all")
    assert "1 of 2 quarantined file(s) ingested." in out
    assert not kept.exists()
    assert [e["id"] for e in json.loads(_ok(cwd, "quarantine", "list", "--json"))] == [second]

    refused = run_slidepacs("quarantine", "retry", cwd=cwd)
    assert refused.returncode == 1 and "IDs or --all" in refused.stderr
    assert f"Deleted quarantined file #{second}" in _ok(cwd, "quarantine", "delete",
                                                        str(second), "--yes")
    assert "The quarantine is empty." in _ok(cwd, "quarantine", "list")
    log = (cwd.parent / "data" / "logs" / "slidepacs.log").read_text()
    assert f"deleted quarantined file #{second}" in log
    assert f"quarantined file #{first} ingested" in log
