"""Engine creation, SQLite tuning and schema migrations (Alembic)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.exc import SQLAlchemyError

from slidepacs.errors import IndexFailure, MigrationRequired

MIGRATIONS = Path(__file__).parent / "migrations"


def open_engine(url: str) -> Engine:
    """Create an engine for ``url`` and prove the database answers."""
    engine = _create(url)
    try:
        with engine.connect():
            pass
    except SQLAlchemyError as exc:
        engine.dispose()
        reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
        raise IndexFailure(f"cannot connect to the index database ({reason})") from None
    return engine


def _create(url: str) -> Engine:
    if url.startswith("sqlite"):
        _ensure_sqlite_folder(url)
        engine = create_engine(
            url, connect_args={"timeout": 60, "check_same_thread": False}, pool_size=20
        )
        event.listen(engine, "connect", _tune_sqlite)
        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return create_engine(url, pool_size=20, max_overflow=20, pool_pre_ping=True)


def _ensure_sqlite_folder(url: str) -> None:
    path = url.split(":///", 1)[-1]
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)


def _tune_sqlite(connection: Any, _record: Any) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=60000")
    cursor.execute("PRAGMA cache_size=-65536")
    cursor.close()


def _alembic_config(engine: Engine) -> AlembicConfig:
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def head_revision() -> str:
    """The newest schema revision this version of slidepacs knows."""
    script = ScriptDirectory.from_config(_alembic_config(None))  # type: ignore[arg-type]
    head = script.get_current_head()
    if head is None:
        raise IndexFailure("no schema migrations are packaged")
    return head


def current_revision(engine: Engine) -> str | None:
    """The schema revision the database is at (``None`` for an empty database)."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine) -> tuple[str | None, str]:
    """Migrate the schema to the newest revision; return (before, after)."""
    before = current_revision(engine)
    command.upgrade(_alembic_config(engine), "head")
    return before, head_revision()


def ensure_schema(engine: Engine, create_if_empty: bool = True) -> None:
    """Create the schema in an empty database; refuse one that needs migrating."""
    revision = current_revision(engine)
    head = head_revision()
    if revision == head:
        return
    if revision is None and create_if_empty and not _has_tables(engine):
        upgrade(engine)
        return
    raise MigrationRequired(
        f"the index is at schema revision {revision or 'none'} but this version needs {head}; "
        "run `slidepacs db upgrade` (back up the index first)"
    )


def _has_tables(engine: Engine) -> bool:
    return bool(inspect(engine).get_table_names())
