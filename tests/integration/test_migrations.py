"""Index schema migrations: ``db upgrade`` creates the schema; an older index is refused.

Each test runs on SQLite and PostgreSQL, through the real ``slidepacs`` command where the
administrator would use it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect, text

from slidepacs.bootstrap import build_context
from slidepacs.config import Settings
from slidepacs.errors import IndexFailure, MigrationRequired
from slidepacs.index.database import ensure_schema, head_revision, open_engine, upgrade
from slidepacs.index.tables import Base
from slidepacs.testing.generators import write_ct_series
from tests.cli import run_slidepacs, toml_config

FAKE_OLDER_REVISION = "0000_before_this_version"
CORE_TABLES = {"patients", "studies", "series", "instances", "instance_versions",
               "storage_locations", "file_copies"}


@pytest.fixture
def engine(settings: Settings) -> Any:
    engine = open_engine(settings.database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def cwd(tmp_path: Path, settings: Settings) -> Path:
    """A folder whose slidepacs.toml points at the test's data path and database."""
    folder = tmp_path / "cwd"
    toml_config(folder, settings.storage.data_path, database_url=settings.database.url)
    return folder


def _snapshot(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table (alembic_version included), for before/after comparisons."""
    snapshot = {}
    with engine.connect() as connection:
        for table in sorted(inspect(connection).get_table_names()):
            rows = connection.execute(text(f'SELECT * FROM "{table}"')).all()
            snapshot[table] = sorted(tuple(map(repr, row)) for row in rows)
    return snapshot


def _set_revision(engine: Engine, revision: str) -> None:
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = :r"), {"r": revision})


@pytest.fixture
def older_index(settings: Settings, engine: Engine, tmp_path: Path) -> Engine:
    """An index holding one instance whose schema revision is older than this version's."""
    app = build_context(settings)
    try:
        [source] = write_ct_series(tmp_path / "first", 1, size=32)
        app.ingest.ingest_file(source)
    finally:
        app.close()
    _set_revision(engine, FAKE_OLDER_REVISION)
    return engine


def _one_line(stderr: str) -> str:
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    return lines[0]


def test_db_upgrade_creates_the_schema_in_an_empty_database(cwd: Path, engine: Engine) -> None:
    assert inspect(engine).get_table_names() == []
    result = run_slidepacs("db", "upgrade", cwd=cwd)
    assert result.returncode == 0, result.stderr
    assert f"Index upgraded from empty to {head_revision()}." in result.stdout
    tables = set(inspect(engine).get_table_names())
    assert CORE_TABLES | {"alembic_version"} <= tables
    with engine.connect() as connection:
        assert connection.execute(text("SELECT version_num FROM alembic_version")).scalar() \
            == head_revision()
    status = run_slidepacs("db", "status", cwd=cwd)
    assert status.returncode == 0 and "up to date" in status.stdout


def test_migrations_create_exactly_the_schema_the_table_models_declare(engine: Engine) -> None:
    upgrade(engine)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, Base.metadata)
    assert differences == [], "the models and the migrations differ: add a migration"


def test_db_upgrade_of_an_up_to_date_index_changes_nothing(cwd: Path, engine: Engine) -> None:
    upgrade(engine)
    before = _snapshot(engine)
    result = run_slidepacs("db", "upgrade", cwd=cwd)
    assert result.returncode == 0, result.stderr
    assert f"Index already at revision {head_revision()}." in result.stdout
    assert _snapshot(engine) == before


def test_start_up_on_an_older_index_refuses_and_changes_nothing(
    older_index: Engine, cwd: Path, settings: Settings, tmp_path: Path
) -> None:
    before, files_before = _snapshot(older_index), stored_files_of(settings)
    [second] = write_ct_series(tmp_path / "second", 1, size=32)
    result = run_slidepacs("import", second, cwd=cwd)
    assert result.returncode == 3, result.stdout + result.stderr
    line = _one_line(result.stderr)
    assert FAKE_OLDER_REVISION in line and "run `slidepacs db upgrade`" in line
    assert _snapshot(older_index) == before
    assert stored_files_of(settings) == files_before
    status = run_slidepacs("db", "status", cwd=cwd)
    assert "needs `slidepacs db upgrade`" in status.stdout


def test_building_a_context_on_an_older_index_raises_migration_required(
    older_index: Engine, settings: Settings
) -> None:
    before = _snapshot(older_index)
    with pytest.raises(MigrationRequired, match="slidepacs db upgrade"):
        build_context(settings)
    assert _snapshot(older_index) == before


def test_index_with_tables_but_no_revision_is_refused_not_recreated(
    settings: Settings, engine: Engine, cwd: Path
) -> None:
    build_context(settings).close()
    with engine.begin() as connection:
        connection.execute(text("DROP TABLE alembic_version"))
    before = _snapshot(engine)
    with pytest.raises(IndexFailure, match="has tables but no schema revision"):
        ensure_schema(engine)
    for command in (("stats",), ("db", "upgrade")):
        result = run_slidepacs(*command, cwd=cwd)
        assert result.returncode == 1, result.stdout + result.stderr
        assert "has tables but no schema revision" in _one_line(result.stderr)
    assert _snapshot(engine) == before


def test_db_upgrade_of_an_unknown_revision_fails_with_one_line_and_changes_nothing(
    older_index: Engine, cwd: Path
) -> None:
    before = _snapshot(older_index)
    result = run_slidepacs("db", "upgrade", cwd=cwd)
    assert result.returncode == 1
    line = _one_line(result.stderr)
    assert f"'{FAKE_OLDER_REVISION}'" in line and "does not know" in line
    assert _snapshot(older_index) == before
    with pytest.raises(IndexFailure):
        upgrade(older_index)


def stored_files_of(settings: Settings) -> list[str]:
    """Every file under the data path (index files excepted)."""
    root = settings.storage.data_path
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")
                  if p.is_file() and not p.name.startswith("index.sqlite")
                  and "logs" not in p.relative_to(root).parts)


def test_upgrade_from_0003_adds_image_rules_and_quarantine_and_keeps_rows(
    engine: Engine, cwd: Path
) -> None:
    from alembic import command
    from alembic.config import Config as AlembicConfig

    from slidepacs.index.database import MIGRATIONS

    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    command.upgrade(config, "0003")
    with engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO forward_rules (name, destination, criteria, created_at) "
            "VALUES ('ct', 'ARCHIVE2', '{}', CURRENT_TIMESTAMP)"))
    assert "image_rules" not in inspect(engine).get_table_names()
    result = run_slidepacs("db", "upgrade", cwd=cwd)
    assert result.returncode == 0, result.stderr
    assert f"Index upgraded from 0003 to {head_revision()}." in result.stdout
    tables = set(inspect(engine).get_table_names())
    assert {"image_rules", "quarantine", "forward_rules"} <= tables
    with engine.connect() as connection:
        assert connection.execute(text("SELECT name FROM forward_rules")).scalars().all() \
            == ["ct"]
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []
