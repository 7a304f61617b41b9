"""``slidepacs import`` with SVS slides, as an administrator runs it."""

from __future__ import annotations

from pathlib import Path

from slidepacs.testing.slides import SlideSpec, make_svs
from tests.cli import run_slidepacs, toml_config


def test_import_converts_an_svs_and_reports_quarantined_slides_of_the_sender(
    tmp_path: Path,
) -> None:
    toml_config(tmp_path, tmp_path / "data")
    folder = tmp_path / "in"
    folder.mkdir()
    make_svs(folder / "labelled.svs", SlideSpec(width=768, height=512))
    rules = run_slidepacs("rules", "set", "GT450", "--require-barcode", cwd=tmp_path)
    assert rules.returncode == 0, rules.stderr
    result = run_slidepacs("import", str(folder), "--ae", "GT450", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "stored" in result.stdout and "quarantined" not in result.stdout
    make_svs(folder / "unlabelled.svs", SlideSpec(width=768, height=512, barcode=None))
    again = run_slidepacs("import", str(folder), "--ae", "GT450", cwd=tmp_path)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "quarantined" in again.stdout
    listing = run_slidepacs("quarantine", "list", "--json", cwd=tmp_path)
    assert listing.returncode == 0 and '"ae_title": "GT450"' in listing.stdout


def test_import_refuses_a_bad_sender_ae_title_before_reading_anything(tmp_path: Path) -> None:
    toml_config(tmp_path, tmp_path / "data")
    result = run_slidepacs("import", str(tmp_path), "--ae", "BAD\\AE", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.startswith("error: ") and "AE title" in result.stderr
    assert not (tmp_path / "data" / "index.sqlite").exists()
