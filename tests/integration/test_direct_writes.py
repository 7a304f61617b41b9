"""Statements run on the driver (index.direct.execute_direct) write what SQLAlchemy would."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import (
    Column,
    DateTime,
    Engine,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    bindparam,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

from slidepacs.index.database import open_engine
from slidepacs.index.direct import execute_direct

_metadata = MetaData()
_NOW = datetime(2026, 12, 4, 10, 30, 15, 123456, tzinfo=UTC)
_ROWS = Table(
    "direct_rows", _metadata,
    Column("pk", Integer, primary_key=True),
    Column("uid", String(64), unique=True, nullable=False),
    Column("label", String(32), default="none"),
    Column("count", Integer, default=0),
    Column("stamp", DateTime(timezone=True), default=lambda: _NOW),
    Column("blob", LargeBinary, nullable=True),
)
_INSERT = insert(_ROWS).returning(_ROWS.c.pk)
_INSERT_UID = insert(_ROWS).values(uid=bindparam("uid")).returning(_ROWS.c.pk)
_BUMP = (update(_ROWS).where(_ROWS.c.uid == bindparam("which"), _ROWS.c.count >= 0)
         .values(count=_ROWS.c.count + 5))
_BY_UID = select(_ROWS.c.pk, _ROWS.c.label).where(_ROWS.c.uid == bindparam("uid"))


@pytest.fixture
def engine(database_url: str, tmp_path: Path) -> Iterator[Engine]:
    engine = open_engine(database_url or f"sqlite:///{tmp_path / 'index.db'}")
    _metadata.create_all(engine)
    try:
        yield engine
    finally:
        _metadata.drop_all(engine)
        engine.dispose()


def test_an_insert_fills_column_defaults_and_converts_values_as_sqlalchemy_does(
    engine: Engine,
) -> None:
    with engine.begin() as connection:
        direct_pk = execute_direct(connection, _INSERT_UID, {"uid": "1.2.1"}).fetchone()[0]
        core_pk = connection.execute(_INSERT_UID, {"uid": "1.2.2"}).scalar_one()
        keys = ("uid", "label", "blob")
        execute_direct(connection, _INSERT, {"uid": "1.2.3", "label": "x", "blob": b"\0\1"},
                       keys)
    with engine.connect() as connection:
        rows = {row.uid: row for row in connection.execute(select(_ROWS))}
    assert direct_pk != core_pk
    direct, core = rows["1.2.1"], rows["1.2.2"]
    assert (direct.label, direct.count, direct.stamp, direct.blob) == (
        core.label, core.count, core.stamp, core.blob) == ("none", 0, core.stamp, None)
    assert direct.stamp.replace(tzinfo=UTC) == _NOW  # SQLite keeps no zone; the instant holds
    assert (rows["1.2.3"].label, rows["1.2.3"].blob) == ("x", b"\0\1")


def test_literal_values_in_a_statement_are_bound_and_many_value_sets_run_each(
    engine: Engine,
) -> None:
    with engine.begin() as connection:
        execute_direct(connection, _INSERT_UID, [{"uid": "1.3.1"}, {"uid": "1.3.2"}])
        execute_direct(connection, _BUMP, [{"which": "1.3.1"}, {"which": "1.3.1"}])
        [(pk, label)] = execute_direct(connection, _BY_UID, {"uid": "1.3.1"}).fetchall()
        assert label == "none"
    with engine.connect() as connection:
        counts = dict(connection.execute(select(_ROWS.c.uid, _ROWS.c.count)).all())
    assert counts == {"1.3.1": 10, "1.3.2": 0}


def test_a_driver_error_is_raised_as_sqlalchemys_and_the_transaction_is_rolled_back(
    engine: Engine,
) -> None:
    with pytest.raises(IntegrityError, match="uid"):
        with engine.begin() as connection:
            execute_direct(connection, _INSERT_UID, {"uid": "1.4.1"})
            execute_direct(connection, _INSERT_UID, {"uid": "1.4.1"})
    missing = Table("no_such_table", MetaData(), Column("uid", String))
    with pytest.raises((OperationalError, ProgrammingError), match="no_such_table"):
        with engine.begin() as connection:
            execute_direct(connection, select(missing.c.uid), {})
    with engine.connect() as connection:
        assert connection.execute(select(_ROWS.c.uid)).all() == []
