"""Hot single-statement reads (a frame request's lookup) on dedicated driver connections.

An ORM session costs a pool checkout, a transaction and result processing: about half a
millisecond per lookup, more than the lookup itself. A :class:`DirectReader` runs one
compiled ``SELECT`` on a driver connection of its own (taken from a few kept idle, never
shared by two threads at once), in autocommit mode (one statement is its own consistent
snapshot), and hands back the plain row.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Engine, Select

from slidepacs.errors import IndexFailure

log = logging.getLogger(__name__)
KEPT_CONNECTIONS = 4


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
            compiled = self._statements[id(statement)] = DirectStatement(statement, self._engine)
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
