"""Promotion of a backup path after the data path is lost (docs/admin-guide.md, "Promotion").

An archive with a data path and two backups loses its data path. The administrator makes
backup 1 the data path, keeps backup 2 and adds a new empty backup, and starts again:
everything indexed is readable, ``storage verify --repair`` fills the new backup, the next
verify is clean and no file was lost. Runs on SQLite (index kept outside the data path, as
the guide says) and on PostgreSQL.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pydicom
import pytest
from sqlalchemy import text

from slidepacs.bootstrap import build_context
from slidepacs.config import Settings, settings_for
from slidepacs.errors import ConfigError
from slidepacs.index.database import index_is_empty, open_engine
from slidepacs.storage.filesystem import file_checksum
from slidepacs.testing.generators import write_ct_series
from tests.cli import run_slidepacs, toml_config


@pytest.fixture
def index_url(tmp_path: Path, database_url: str) -> str:
    """The index, outside every storage location (SQLite in its own folder)."""
    return database_url or f"sqlite:///{tmp_path / 'index' / 'index.sqlite'}"


def _settings(data: Path, backups: list[Path], index_url: str) -> Settings:
    return settings_for(data, storage={"backup_paths": [str(p) for p in backups],
                                       "duplicate_policy": "keep_new_version"},
                        database={"url": index_url})


def _second_version(source: Path, target: Path) -> Path:
    ds = pydicom.dcmread(source)
    ds.SeriesDescription = "corrected"
    ds.save_as(target)
    return target


def _ingest_originals(settings: Settings, tmp_path: Path) -> dict[str, str]:
    """Ingest 6 instances plus a second version of one; return relpath → source checksum."""
    sources = write_ct_series(tmp_path / "in", 6, size=32)
    sources.append(_second_version(sources[0], tmp_path / "v2.dcm"))
    app = build_context(settings)
    try:
        return {app.ingest.ingest_file(s).relpath: file_checksum(s) for s in sources}
    finally:
        app.close()


def test_backup_promoted_to_data_path_loses_nothing(tmp_path: Path, index_url: str) -> None:
    data, b1, b2, b3 = (tmp_path / name for name in ("data", "b1", "b2", "b3"))
    originals = _ingest_originals(_settings(data, [b1, b2], index_url), tmp_path)
    assert len(originals) == 7  # 6 current files and 1 kept old version

    shutil.rmtree(data)  # the data path's disk is lost
    promoted = _settings(b1, [b2, b3], index_url)
    app = build_context(promoted)
    try:
        with app.unit_of_work.read() as repo:
            indexed = {f.relpath: f.checksum for f in repo.iter_files()}
            assert repo.counts().instances == 6
        assert indexed == originals
        for relpath, checksum in originals.items():
            path = app.store.path(relpath)
            assert path.is_relative_to(b1.resolve())
            assert file_checksum(path) == checksum
        before = app.storage_check.verify()
        assert {(p.location, p.problem) for p in before.problems} == {(b3.resolve(), "missing")}
        assert len(before.problems) == 7
    finally:
        app.close()

    cwd = tmp_path / "cwd"
    toml_config(cwd, b1, [b2, b3], index_url)
    repair = run_slidepacs("storage", "verify", "--repair", cwd=cwd)
    assert repair.returncode == 0, repair.stdout + repair.stderr
    assert repair.stdout.count(" - repaired") == 7
    verify = run_slidepacs("storage", "verify", cwd=cwd)
    assert verify.returncode == 0, verify.stdout
    assert "Storage is consistent with the index." in verify.stdout

    for location in (b1, b2, b3):
        stored = {p.relative_to(location).as_posix(): file_checksum(p)
                  for p in location.rglob("*.dcm")}
        assert stored == originals, location


def test_restart_after_losing_the_data_path_reads_from_a_backup_and_repair_refills_it(
    tmp_path: Path, index_url: str
) -> None:
    data, b1, b2 = (tmp_path / name for name in ("data", "b1", "b2"))
    settings = _settings(data, [b1, b2], index_url)
    originals = _ingest_originals(settings, tmp_path)
    shutil.rmtree(data)  # replaced by an empty disk, same configuration
    app = build_context(settings)
    try:
        for relpath, checksum in originals.items():
            assert app.store.path(relpath).is_relative_to(b1.resolve())
            assert file_checksum(app.store.path(relpath)) == checksum
        report = app.storage_check.verify(repair=True)
        assert report.clean and len(report.repaired) == len(originals)
        assert {r: file_checksum(data / r) for r in originals} == originals
        assert app.storage_check.verify().problems == []
    finally:
        app.close()


def _lose_index(settings: Settings) -> None:
    """Lose the index: the data path holding the SQLite file, or PostgreSQL's tables."""
    if settings.database.url:
        engine = open_engine(settings.database_url)
        with engine.begin() as connection:
            connection.execute(text("DROP SCHEMA public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
        engine.dispose()
    else:
        shutil.rmtree(settings.storage.data_path)


def test_start_with_a_lost_index_over_stored_files_is_refused_and_creates_no_schema(
    tmp_path: Path, database_url: str
) -> None:
    data, b1 = tmp_path / "data", tmp_path / "b1"
    settings = _settings(data, [b1], database_url)  # SQLite: the default, inside the data path
    _ingest_originals(settings, tmp_path)
    _lose_index(settings)
    with pytest.raises(ConfigError) as refused:
        build_context(settings)
    assert refused.value.setting == "database.url"
    first_used = (data if database_url else b1).resolve()  # SQLite lost the data path with it
    assert f"the index is empty but {first_used} already holds stored files" \
        in refused.value.problem
    assert "restore the index" in refused.value.problem
    engine = open_engine(settings.database_url)
    try:
        assert index_is_empty(engine)
    finally:
        engine.dispose()
