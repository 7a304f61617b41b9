"""Hot statements run straight on the database driver, compiled once.

An ORM session costs a pool checkout, a transaction and result processing: about half a
millisecond per lookup, more than the lookup itself. A :class:`DirectReader` runs one
compiled ``SELECT`` on a driver connection of its own (taken from a few kept idle, never
shared by two threads at once), in autocommit mode (one statement is its own consistent
snapshot), and hands back the plain row.

:func:`execute_direct` runs a Core statement on the driver connection of a transaction
that is already open (the ingest path's writes): SQLAlchemy's per-execution work (parameter
construction, execution context, result set-up; 40–80 µs for a wide ``INSERT``) costs more
than the statement itself. Values are converted and column defaults filled exactly as
SQLAlchemy would, and driver errors become SQLAlchemy's, as from ``Connection.execute``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Engine, Select
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.base import Executable

from slidepacs.errors import IndexFailure

log = logging.getLogger(__name__)
KEPT_CONNECTIONS = 4


class DirectStatement:
    """A statement compiled once for a driver: its SQL, its parameter order, the driver-side
    conversions of its values and the defaults of the columns an ``INSERT`` leaves out."""

    def __init__(self, statement: Executable, dialect: Dialect,
                 keys: Sequence[str] | None = None) -> None:
        compiled = statement.compile(  # type: ignore[attr-defined]
            dialect=dialect, column_keys=None if keys is None else list(keys))
        self.sql: str = compiled.string
        self._names = tuple(compiled.positiontup or ()) if compiled.positional else None
        self._convert = {
            name: convert for name, bind in compiled.binds.items()
            if (convert := bind.type.dialect_impl(dialect).bind_processor(dialect)) is not None
        }
        self._defaults = {column.key: column.default for column in compiled.insert_prefetch}
        self._literals = {name: bind.effective_value for name, bind in compiled.binds.items()
                          if not bind.required and name not in self._defaults}

    def parameters(self, values: Mapping[str, Any]) -> tuple[Any, ...] | Mapping[str, Any]:
        """The driver's parameters for ``values`` (by position or by name, as it wants)."""
        if self._defaults or self._literals:
            values = {**self._literals, **{key: _default(column_default)
                                           for key, column_default in self._defaults.items()},
                      **values}
        if self._convert:
            values = {**values, **{name: convert(values[name])
                                   for name, convert in self._convert.items()}}
        if self._names is not None:
            return tuple(values[name] for name in self._names)
        return values


_compiled_statements: dict[tuple[int, str, tuple[str, ...] | None], DirectStatement] = {}


def execute_direct(connection: Connection, statement: Executable,
                   values: Mapping[str, Any] | Sequence[Mapping[str, Any]] = (),
                   keys: Sequence[str] | None = None) -> Any:
    """Run ``statement`` in ``connection``'s transaction on its driver cursor; the cursor
    (rows of a ``RETURNING`` or ``SELECT`` with ``fetchone``/``fetchall``). A sequence of
    value mappings runs it once for each. ``keys``: the columns an ``INSERT`` without
    explicit values sets. ``statement`` must live as long as the process (compiled forms
    are kept by its identity). Driver errors are raised as SQLAlchemy's."""
    dialect = connection.dialect
    cache_key = (id(statement), dialect.name, None if keys is None else tuple(keys))
    compiled = _compiled_statements.get(cache_key)
    if compiled is None:
        compiled = _compiled_statements[cache_key] = DirectStatement(statement, dialect, keys)
    driver = connection.connection.driver_connection
    cursor = driver.cursor()
    try:
        if isinstance(values, Mapping):
            cursor.execute(compiled.sql, compiled.parameters(values))
        else:
            cursor.executemany(compiled.sql, [compiled.parameters(v) for v in values])
    except dialect.loaded_dbapi.Error as exc:
        if dialect.is_disconnect(exc, driver, cursor):
            connection.invalidate(exc)
        raise DBAPIError.instance(compiled.sql, values, exc, dialect.loaded_dbapi.Error,
                                  dialect=dialect) from exc
    return cursor


def _default(column_default: Any) -> Any:
    """A Python-side column default's value (callables as SQLAlchemy calls them)."""
    if column_default.is_callable:
        return column_default.arg(None)
    return column_default.arg


class DirectReader:
    """Runs compiled statements on autocommit driver connections of its own: at most
    ``keep`` are kept open while idle (busier moments open more and close them after); a
    lost connection is reopened once per call. ``close`` closes the idle ones."""

    def __init__(self, engine: Engine, keep: int = KEPT_CONNECTIONS) -> None:
        self._engine = engine
        self._keep = keep
        self._idle: list[Any] = []
        self._lock = threading.Lock()
        self._statements: dict[int, DirectStatement] = {}

    def first(self, statement: Select[Any], values: Mapping[str, Any]) -> tuple[Any, ...] | None:
        """The first row of ``statement`` with ``values``, or None."""
        compiled = self._compiled(statement)
        parameters = compiled.parameters(values)
        for attempt in (1, 2):
            connection = self._checkout()
            try:
                cursor = connection.cursor()
                try:
                    cursor.execute(compiled.sql, parameters)
                    row = cursor.fetchone()
                finally:
                    cursor.close()
            except self._engine.dialect.loaded_dbapi.Error as exc:
                lost = _is_disconnect(self._engine, exc, connection)
                _close_quietly(connection)
                if attempt == 2 or not lost:
                    raise IndexFailure(f"index database error ({_first_line(exc)})") from None
                log.info("index connection lost (%s); reconnecting", _first_line(exc))
                self.close()  # the idle ones went with it (a server restart): open anew
                continue
            self._checkin(connection)
            return None if row is None else tuple(row)
        return None  # not reached

    def close(self) -> None:
        """Close the idle connections (a later read opens new ones)."""
        with self._lock:
            idle, self._idle = self._idle, []
        for connection in idle:
            _close_quietly(connection)

    def _compiled(self, statement: Select[Any]) -> DirectStatement:
        compiled = self._statements.get(id(statement))
        if compiled is None:
            compiled = self._statements[id(statement)] = DirectStatement(
                statement, self._engine.dialect)
        return compiled

    def _checkout(self) -> Any:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        try:
            pooled = self._engine.raw_connection()
        except Exception as exc:  # noqa: BLE001 - any driver or pool failure
            raise IndexFailure(f"cannot connect to the index ({_first_line(exc)})") from None
        pooled.detach()  # ours now: the pool opens another one when it needs it
        connection = pooled.dbapi_connection
        if self._engine.dialect.name == "postgresql":
            connection.autocommit = True
        return connection

    def _checkin(self, connection: Any) -> None:
        with self._lock:
            if len(self._idle) < self._keep:
                self._idle.append(connection)
                return
        _close_quietly(connection)


def _close_quietly(connection: Any) -> None:
    try:
        connection.close()
    except Exception:  # noqa: BLE001 - closing a broken connection is best effort
        pass


def _is_disconnect(engine: Engine, exc: Exception, connection: Any) -> bool:
    return bool(engine.dialect.is_disconnect(exc, connection, None))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__
