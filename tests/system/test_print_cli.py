"""``slidepacs print list|show|delete`` through the real command (SQLite and PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from slidepacs.bootstrap import build_context
from slidepacs.config import load_settings
from slidepacs.domain.film import film_spec
from slidepacs.imaging.film_render import BoxImage
from slidepacs.services.printing import FilmToPrint
from tests.cli import closed_port, run_slidepacs


def _cwd(tmp_path: Path, database_url: str) -> Path:
    folder = tmp_path / "cwd"
    folder.mkdir()
    (folder / "slidepacs.toml").write_text(
        f'[dicom]\nport = {closed_port()}\n[slide_receiver]\nport = {closed_port()}\n'
        f'[http]\nport = {closed_port()}\n[storage]\ndata_path = "{tmp_path / "data"}"\n'
        f'[database]\nurl = "{database_url}"\n[print]\ndpi = 50\n', encoding="utf-8")
    return folder


def test_print_jobs_are_listed_shown_and_deleted_with_their_files(
        tmp_path: Path, database_url: str) -> None:
    cwd = _cwd(tmp_path, database_url)
    app = build_context(load_settings(cwd / "slidepacs.toml"))
    try:
        spec = film_spec({"ImageDisplayFormat": "STANDARD\\1,2", "FilmSizeID": "14INX17IN"})
        job = app.printing.print_films(
            [FilmToPrint("1.2.3", spec, {1: BoxImage(np.full((4, 4), 128, np.uint8))})],
            False, "CT01", "10.0.0.5")
        folder = app.printing.folder_of(job)
    finally:
        app.close()
    listed = run_slidepacs("print", "list", cwd=cwd)
    assert listed.returncode == 0, listed.stderr
    assert job.job_uid in listed.stdout and "CT01 (10.0.0.5)" in listed.stdout
    shown = run_slidepacs("print", "show", job.job_uid, cwd=cwd)
    assert shown.returncode == 0, shown.stderr
    assert "14INX17IN STANDARD\\1,2: film-01.png, film-01.pdf" in shown.stdout
    deleted = run_slidepacs("print", "delete", job.job_uid, cwd=cwd)
    assert deleted.returncode == 0, deleted.stderr
    assert not folder.exists()
    again = run_slidepacs("print", "show", job.job_uid, cwd=cwd)
    assert again.returncode == 1
    assert again.stderr.strip() == f"error: no print job '{job.job_uid}'"
    audit = run_slidepacs("audit", "--action", "print.delete", cwd=cwd)
    assert job.job_uid in audit.stdout
