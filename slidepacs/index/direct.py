"""Hot single-statement reads (a frame request's lookup) on dedicated driver connections.

An ORM session costs a pool checkout, a transaction and result processing: about half a
millisecond per lookup, more than the lookup itself. A :class:`DirectReader` runs one
compiled ``SELECT`` on a driver connection of its own per thread, in autocommit mode (one
statement is its own consistent snapshot), and hands back the plain row.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Engine, Select

from slidepacs.errors import IndexFailure

log = logging.getLogger(__name__)


class DirectStatement:
    """A ``SELECT`` compiled once for the engine's driver, with its parameter order."""

    def __init__(self, statement: Select[Any], engine: Engine) -> None:
        compiled = statement.compile(dialect=engine.dialect)
        self.sql = compiled.string
        self._positional = compiled.positional
        self._names = tuple(compiled.positiontup or ())

    def parameters(self, values: Mapping[str, Any]) -> tuple[Any, ...] | Mapping[str, Any]:
        """The driver's parameters for ``values`` (by position or by name, as it wants)."""
        if self._positional:
            return tuple(values[name] for name in self._names)
        return values


class DirectReader:
    """Runs compiled statements on one autocommit driver connection per thread; a lost
    connection is reopened once per call. ``close`` closes every connection it opened."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._local = threading.local()
        self._opened: list[Any] = []
        self._lock = threading.Lock()
        self._statements: dict[int, DirectStatement] = {}

    def first(self, statement: Select[Any], values: Mapping[str, Any]) -> tuple[Any, ...] | None:
        """The first row of ``statement`` with ``values``, or None."""
        compiled = self._compiled(statement)
        parameters = compiled.parameters(values)
        for attempt in (1, 2):
            connection = self._connection()
            try:
                cursor = connection.cursor()
                try:
                    cursor.execute(compiled.sql, parameters)
                    row = cursor.fetchone()
                finally:
                    cursor.close()
                return None if row is None else tuple(row)
            except self._engine.dialect.loaded_dbapi.Error as exc:
                self._discard(connection)
                if attempt == 2 or not _is_disconnect(self._engine, exc, connection):
                    raise IndexFailure(f"index database error ({_first_line(exc)})") from None
                log.info("index connection lost (%s); reconnecting", _first_line(exc))
        return None  # not reached

    def close(self) -> None:
        """Close every connection opened so far (threads reopen theirs if they read again)."""
        with self._lock:
            opened, self._opened = self._opened, []
        for connection in opened:
            try:
                connection.close()
            except Exception:  # noqa: BLE001 - closing a broken connection is best effort
                pass
        self._local = threading.local()

    def _compiled(self, statement: Select[Any]) -> DirectStatement:
        compiled = self._statements.get(id(statement))
        if compiled is None:
            compiled = self._statements[id(statement)] = DirectStatement(statement, self._engine)
        return compiled

    def _connection(self) -> Any:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            try:
                pooled = self._engine.raw_connection()
            except Exception as exc:  # noqa: BLE001 - any driver or pool failure
                raise IndexFailure(f"cannot connect to the index ({_first_line(exc)})") from None
            pooled.detach()  # ours now: the pool opens another one when it needs it
            connection = pooled.dbapi_connection
            if self._engine.dialect.name == "postgresql":
                connection.autocommit = True
            with self._lock:
                self._opened.append(connection)
            self._local.connection = connection
        return connection

    def _discard(self, connection: Any) -> None:
        self._local.connection = None
        with self._lock:
            if connection in self._opened:
                self._opened.remove(connection)
        try:
            connection.close()
        except Exception:  # noqa: BLE001 - it is already broken
            pass


def _is_disconnect(engine: Engine, exc: Exception, connection: Any) -> bool:
    return bool(engine.dialect.is_disconnect(exc, connection, None))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__
