"""``kill -9`` in the middle of an import, then restart: nothing indexed is lost or doubled.

The real ``slidepacs import`` runs in a subprocess on 1,000 small files into a data path and a
backup path; once some hundreds are indexed it is killed with SIGKILL. Importing the same
folder again must leave every instance indexed exactly once, every indexed file intact in
every location, no unindexed or duplicated file in storage, and no temporary file after a
repair sweep. Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pydicom
import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import SQLAlchemyError

from slidepacs.config import settings_for
from slidepacs.testing.generators import write_ct_series
from tests.cli import SLIDEPACS, clean_environment, run_slidepacs, toml_config

FILES = 1000
KILL_AFTER_INDEXED = 150
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def series(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """A folder of 1,000 small CT files and their SOP Instance UIDs."""
    folder = tmp_path_factory.mktemp("crash") / "series"
    paths = write_ct_series(folder, FILES, size=64)
    uids = [str(pydicom.dcmread(p, specific_tags=["SOPInstanceUID"]).SOPInstanceUID)
            for p in paths]
    return folder, sorted(uids)


def _indexed(engine: Engine) -> int:
    """Instances committed to the index so far (0 while the schema does not exist yet)."""
    try:
        with engine.connect() as connection:
            return int(connection.execute(text("SELECT count(*) FROM instances")).scalar_one())
    except SQLAlchemyError:
        return 0


def _import_and_kill(folder: Path, cwd: Path, engine: Engine) -> int:
    """Start an import, SIGKILL it once KILL_AFTER_INDEXED are indexed; return that count."""
    with (cwd / "killed-import.log").open("wb") as log:
        process = subprocess.Popen([str(SLIDEPACS), "import", str(folder)], cwd=cwd,
                                   env=clean_environment(), stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 120
        while _indexed(engine) < KILL_AFTER_INDEXED and time.monotonic() < deadline:
            assert process.poll() is None, "the import ended before it could be killed"
            time.sleep(0.005)
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.kill()
        process.wait()  # reap it: a zombie would still look like a live writer
    assert process.returncode == -signal.SIGKILL
    return _indexed(engine)


def _files_on_disk(location: Path, pattern: str) -> list[str]:
    return sorted(p.relative_to(location).as_posix() for p in location.rglob(pattern)
                  if "logs" not in p.relative_to(location).parts)


def test_kill_9_during_import_then_reimport_loses_and_doubles_nothing(
    series: tuple[Path, list[str]], tmp_path: Path, database_url: str
) -> None:
    folder, uids = series
    data, backup = tmp_path / "data", tmp_path / "backup"
    settings = settings_for(data, storage={"backup_paths": [str(backup)]},
                            database={"url": database_url})
    cwd = tmp_path / "cwd"
    toml_config(cwd, data, [backup], database_url)
    engine = create_engine(settings.database_url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        at_kill = _import_and_kill(folder, cwd, engine)
        assert KILL_AFTER_INDEXED <= at_kill < FILES
        leftovers = len(_files_on_disk(data, "*.tmp")) + len(_files_on_disk(backup, "*.tmp"))
        print(f"\n[{engine.dialect.name}] killed with {at_kill} of {FILES} indexed, "
              f"{leftovers} temporary files left")

        again = run_slidepacs("import", folder, cwd=cwd, timeout=300)
        assert again.returncode == 0, again.stdout + again.stderr
        verify = run_slidepacs("storage", "verify", cwd=cwd)
        assert verify.returncode == 0, verify.stdout + verify.stderr
        assert f"Checked {FILES:,} files" in verify.stdout

        with engine.connect() as connection:
            indexed = connection.execute(
                text("SELECT sop_instance_uid, relpath FROM instances")).all()
            versions = connection.execute(text("SELECT count(*) FROM instance_versions")).scalar()
            counters = connection.execute(
                text("SELECT num_instances FROM studies UNION ALL "
                     "SELECT num_instances FROM series")).scalars().all()
        assert sorted(uid for uid, _ in indexed) == uids  # each one, exactly once
        assert versions == 0
        assert counters == [FILES, FILES]
        relpaths = sorted(relpath for _, relpath in indexed)
        assert all(r.endswith(".dcm") and not r.endswith(".tmp") for r in relpaths)

        repair = run_slidepacs("storage", "verify", "--repair", cwd=cwd)
        assert repair.returncode == 0, repair.stdout + repair.stderr
        for location in (data, backup):
            assert _files_on_disk(location, "*.dcm") == relpaths  # none missing, none extra
            assert _files_on_disk(location, "*.tmp") == []
    finally:
        engine.dispose()
