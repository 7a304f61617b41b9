"""Engine creation, SQLite tuning and schema migrations (Alembic)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.script.revision import RevisionError
from alembic.util.exc import CommandError
from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.exc import SQLAlchemyError

from slidepacs.errors import IndexFailure, MigrationRequired

MIGRATIONS = Path(__file__).parent / "migrations"
_FOREIGN_TABLES = (
    "the index database has tables but no schema revision: it was not made by slidepacs (or "
    "its alembic_version table was lost); use an empty database or restore the index"
)


def open_engine(url: str) -> Engine:
    """Create an engine for ``url`` and prove the database answers.

    Raises IndexFailure (one line, no password) for a malformed URL, a database kind
    without an installed driver, a SQLite file that cannot be created, or no answer.
    """
    try:
        engine = _create(url)
    except (SQLAlchemyError, ImportError) as exc:
        raise IndexFailure(f"not a usable database URL ({_reason(exc)})") from None
    except OSError as exc:
        raise IndexFailure(f"cannot create the SQLite folder ({exc.strerror or exc})") from None
    try:
        with engine.connect():
            pass
    except SQLAlchemyError as exc:
        engine.dispose()
        raise IndexFailure(f"cannot connect to the index database ({_reason(exc)})") from None
    return engine


def _reason(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


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
    # Search keys are stored case-folded, so LIKE may be case-sensitive (as DICOM matching
    # and PostgreSQL are) — which also lets SQLite use indexes for prefix patterns.
    cursor.execute("PRAGMA case_sensitive_like=ON")
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
    """Migrate the schema to the newest revision; return (before, after).

    Raises IndexFailure when the database cannot be migrated (an unknown revision, a
    schema not made by slidepacs, a database error); a failed step is rolled back.
    """
    before = current_revision(engine)
    head = head_revision()
    if before is not None and not _known_revision(before):
        raise IndexFailure(
            f"the index is at schema revision {before!r}, which this version of slidepacs "
            f"does not know (it needs {head}); was it made by a newer slidepacs?"
        )
    if before is None and _has_tables(engine):
        raise IndexFailure(_FOREIGN_TABLES)
    try:
        command.upgrade(_alembic_config(engine), "head")
    except (SQLAlchemyError, CommandError, RevisionError) as exc:
        raise IndexFailure(f"schema migration failed ({_reason(exc)})") from None
    return before, head


def ensure_schema(engine: Engine, create_if_empty: bool = True) -> None:
    """Create the schema in an empty database; refuse one that needs migrating.

    Never changes a database that holds anything: an older (or unknown) revision raises
    MigrationRequired, tables without a revision IndexFailure, and both leave it as it is.
    """
    revision = current_revision(engine)
    head = head_revision()
    if revision == head:
        return
    if revision is None and _has_tables(engine):
        raise IndexFailure(_FOREIGN_TABLES)
    if revision is None and create_if_empty:
        upgrade(engine)
        return
    raise MigrationRequired(
        f"the index is at schema revision {revision or 'none'} but this version needs {head}; "
        "run `slidepacs db upgrade` (back up the index first)"
    )


def index_is_empty(engine: Engine) -> bool:
    """True for a database without any slidepacs schema (no revision, no tables)."""
    return current_revision(engine) is None and not _has_tables(engine)


def _known_revision(revision: str) -> bool:
    script = ScriptDirectory.from_config(_alembic_config(None))  # type: ignore[arg-type]
    try:
        return script.get_revision(revision) is not None
    except (CommandError, RevisionError):
        return False


def _has_tables(engine: Engine) -> bool:
    return bool(inspect(engine).get_table_names())
