"""Transactions over the index: the only place sessions are opened and committed."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import sessionmaker

from slidepacs.errors import Conflict, IndexFailure
from slidepacs.index.repository import IndexRepository


class UnitOfWork:
    """Opens repositories in a transaction; writes take the database's write lock up front.

    On SQLite a write transaction begins with ``BEGIN IMMEDIATE`` so concurrent writers queue
    (bounded by the busy timeout) instead of failing when their snapshot turns stale.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        if engine.dialect.name == "sqlite":
            event.listen(engine, "connect", _sqlite_manual_transactions)
            event.listen(engine, "begin", _sqlite_begin)
        self._writer = sessionmaker(
            bind=engine.execution_options(slidepacs_write=True), expire_on_commit=False
        )
        self._reader = sessionmaker(bind=engine, expire_on_commit=False)

    @contextmanager
    def write(self) -> Iterator[IndexRepository]:
        """A write transaction; committed when the block ends without error."""
        with _translated(), self._writer() as session, session.begin():
            yield IndexRepository(session)

    @contextmanager
    def read(self) -> Iterator[IndexRepository]:
        """A read-only transaction."""
        with _translated(), self._reader() as session, session.begin():
            yield IndexRepository(session)
            session.rollback()


@contextmanager
def _translated() -> Iterator[None]:
    try:
        yield
    except IntegrityError as exc:
        raise Conflict(f"index constraint violated ({_reason(exc)})") from exc
    except OperationalError as exc:
        raise IndexFailure(f"index database error ({_reason(exc)})") from exc
    except SQLAlchemyError as exc:
        raise IndexFailure(f"index error ({_reason(exc)})") from exc


def _reason(exc: SQLAlchemyError) -> str:
    return str(getattr(exc, "orig", exc)).strip().splitlines()[0][:300]


def _sqlite_manual_transactions(connection: Any, _record: Any) -> None:
    connection.isolation_level = None


def _sqlite_begin(connection: Any) -> None:
    write = connection.get_execution_options().get("slidepacs_write", False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")
