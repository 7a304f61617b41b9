"""``storage verify``: every indexed file checked in every location; ``--repair`` restores.

Runs on SQLite and PostgreSQL, with a data path and two backup paths, through the service
and through the real ``slidepacs storage verify`` command.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from slidepacs.bootstrap import AppContext, build_context
from slidepacs.config import Settings, settings_for
from slidepacs.storage import CopyProblem
from slidepacs.storage.filesystem import file_checksum
from slidepacs.testing.generators import write_ct_series
from tests.cli import run_slidepacs, toml_config


@pytest.fixture
def mirrored_settings(tmp_path: Path, database_url: str) -> Settings:
    return settings_for(
        tmp_path / "data",
        storage={"backup_paths": [str(tmp_path / "b1"), str(tmp_path / "b2")]},
        database={"url": database_url},
    )


@pytest.fixture
def app(mirrored_settings: Settings) -> Iterator[AppContext]:
    context = build_context(mirrored_settings)
    yield context
    context.close()


@pytest.fixture
def relpaths(app: AppContext, tmp_path: Path) -> list[str]:
    """Three instances ingested into every location."""
    sources = write_ct_series(tmp_path / "in", 3, size=32)
    return [app.ingest.ingest_file(source).relpath for source in sources]


@pytest.fixture
def cwd(tmp_path: Path, mirrored_settings: Settings) -> Path:
    """A folder whose slidepacs.toml describes the same archive, for the CLI."""
    storage = mirrored_settings.storage
    folder = tmp_path / "cwd"
    toml_config(folder, storage.data_path, list(storage.backup_paths),
                mirrored_settings.database.url)
    return folder


def _flip_byte(path: Path, offset: int = -10) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


def _checksums(app: AppContext, relpath: str) -> list[str]:
    return [file_checksum(location / relpath) for location in app.store.locations]


def test_verify_is_clean_after_ingest(app: AppContext, relpaths: list[str]) -> None:
    report = app.storage_check.verify()
    assert report.clean
    assert report.problems == [] and report.unrepairable == []
    assert report.files == 3
    assert report.bytes == sum((app.store.locations[0] / r).stat().st_size for r in relpaths)


def test_corrupted_copy_in_one_backup_is_reported_with_location_and_problem(
    app: AppContext, relpaths: list[str]
) -> None:
    b1 = app.store.locations[1]
    _flip_byte(b1 / relpaths[1])
    report = app.storage_check.verify()
    assert not report.clean
    assert report.problems == [CopyProblem(b1, relpaths[1], "checksum differs from the index")]
    assert report.repaired == [] and report.unrepairable == []


def test_deleted_and_truncated_copies_are_reported(app: AppContext, relpaths: list[str]) -> None:
    data, b1, b2 = app.store.locations
    (b2 / relpaths[0]).unlink()
    truncated = b1 / relpaths[2]
    size = truncated.stat().st_size
    os.truncate(truncated, size - 100)
    problems = {(p.location, p.relpath): p.problem for p in app.storage_check.verify().problems}
    assert problems == {
        (b2, relpaths[0]): "missing",
        (b1, relpaths[2]): f"size {size - 100} differs from indexed {size}",
    }


def test_repair_restores_bad_copies_from_a_good_one_and_next_verify_is_clean(
    app: AppContext, relpaths: list[str]
) -> None:
    data, b1, b2 = app.store.locations
    original = _checksums(app, relpaths[0])[0]
    _flip_byte(data / relpaths[0])          # the data path's copy itself is bad
    (b2 / relpaths[0]).unlink()             # and a backup's copy is gone
    report = app.storage_check.verify(repair=True)
    assert report.clean
    assert sorted(p.location for p in report.repaired) == sorted([data, b2])
    assert _checksums(app, relpaths[0]) == [original] * 3
    again = app.storage_check.verify()
    assert again.clean and again.problems == []


def test_file_bad_in_every_location_is_unrepairable_and_left_alone(
    app: AppContext, relpaths: list[str]
) -> None:
    for location in app.store.locations:
        _flip_byte(location / relpaths[2], offset=-(location.name == "b1") - 5)
    damaged = _checksums(app, relpaths[2])
    for repair in (False, True):
        report = app.storage_check.verify(repair=repair)
        assert not report.clean
        assert report.repaired == []
        assert {p.location for p in report.unrepairable} == set(app.store.locations)
        assert all("no good copy in any location" in p.problem for p in report.unrepairable)
    assert _checksums(app, relpaths[2]) == damaged  # no bad copy was spread over another


def _stage_in_a_process_that_dies(store_locations: tuple[Path, ...], source: Path) -> None:
    """Stage a file from a child process that exits without publishing (an interrupted write)."""
    code = ("import sys; from pathlib import Path; from slidepacs.storage import MirroredFileStore;"
            "MirroredFileStore([Path(p) for p in sys.argv[2:]]).stage(Path(sys.argv[1]), "
            "'interrupted/x.dcm')")
    subprocess.run([sys.executable, "-c", code, str(source), *map(str, store_locations)],
                   check=True, timeout=60)


def _temporaries(app: AppContext) -> list[Path]:
    return sorted(p for location in app.store.locations for p in location.rglob("*.tmp"))


def test_repair_sweeps_temporaries_of_dead_writers_but_not_of_a_live_one(
    app: AppContext, relpaths: list[str], tmp_path: Path
) -> None:
    source = tmp_path / "in" / "CT00001.dcm"
    _stage_in_a_process_that_dies(app.store.locations, source)
    dead = _temporaries(app)
    assert len(dead) == 3
    live = app.store.stage(source, "in-progress/y.dcm")  # this process is still writing it
    assert app.storage_check.verify().temporary_removed == 0  # plain verify only reads
    assert len(_temporaries(app)) == 6
    report = app.storage_check.verify(repair=True)
    assert report.clean
    assert report.temporary_removed == 3
    assert _temporaries(app) == sorted(live.temporaries)
    app.store.publish([live])  # the live write can still complete
    assert file_checksum(app.store.path("in-progress/y.dcm")) == file_checksum(source)


def test_repair_sweeps_a_live_writers_temporary_once_it_is_a_day_old(
    app: AppContext, relpaths: list[str], tmp_path: Path
) -> None:
    staged = app.store.stage(tmp_path / "in" / "CT00002.dcm", "stuck/z.dcm")
    two_days_ago = time.time() - 2 * 86400
    for temporary in staged.temporaries:
        os.utime(temporary, (two_days_ago, two_days_ago))
    report = app.storage_check.verify(repair=True)
    assert report.temporary_removed == 3
    assert _temporaries(app) == []


# -- the command ---------------------------------------------------------------------------
def test_cli_verify_exits_0_when_clean(cwd: Path, relpaths: list[str]) -> None:
    result = run_slidepacs("storage", "verify", cwd=cwd)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Checked 3 files" in result.stdout and "in 3 location(s)" in result.stdout
    assert "Storage is consistent with the index." in result.stdout


def test_cli_reports_each_bad_copy_on_one_line_and_exits_1(
    cwd: Path, app: AppContext, relpaths: list[str]
) -> None:
    data, b1, b2 = app.store.locations
    _flip_byte(b1 / relpaths[0])
    (b2 / relpaths[1]).unlink()
    result = run_slidepacs("storage", "verify", cwd=cwd)
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert f"{b1}: {relpaths[0]}: checksum differs from the index" in lines
    assert f"{b2}: {relpaths[1]}: missing" in lines
    assert "2 bad copies remain; run `slidepacs storage verify --repair`" in lines
    assert (b1 / relpaths[0]).exists() and not (b2 / relpaths[1]).exists()  # nothing changed


def test_cli_repair_fixes_copies_then_verify_is_clean(
    cwd: Path, app: AppContext, relpaths: list[str]
) -> None:
    b1 = app.store.locations[1]
    _flip_byte(b1 / relpaths[0])
    repaired = run_slidepacs("storage", "verify", "--repair", cwd=cwd)
    assert repaired.returncode == 0, repaired.stdout + repaired.stderr
    assert f"{b1}: {relpaths[0]}: checksum differs from the index - repaired" \
        in repaired.stdout.splitlines()
    again = run_slidepacs("storage", "verify", cwd=cwd)
    assert again.returncode == 0 and "Storage is consistent with the index." in again.stdout


def test_cli_repair_exits_1_when_a_file_is_unrepairable(
    cwd: Path, app: AppContext, relpaths: list[str]
) -> None:
    for location in app.store.locations:
        (location / relpaths[1]).unlink()
    _flip_byte(app.store.locations[2] / relpaths[0])  # repairable, and repaired meanwhile
    result = run_slidepacs("storage", "verify", "--repair", cwd=cwd)
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    for location in app.store.locations:
        assert (f"{location}: {relpaths[1]}: missing; no good copy in any location - "
                "UNREPAIRABLE") in lines
    assert "3 bad copies remain" in lines
    assert {p.relpath for p in app.storage_check.verify().problems} == {relpaths[1]}
