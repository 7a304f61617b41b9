"""Shared fixtures: every integration test runs against SQLite and a real PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from slidepacs.bootstrap import AppContext, build_context
from slidepacs.config import Settings, settings_for
from slidepacs.testing.postgres import PostgresCluster

BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    """One throw-away PostgreSQL server for the whole run (fails, never skips, if missing)."""
    cluster = PostgresCluster()
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """An empty index database: SQLite in the data path, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield ""
        return
    cluster: PostgresCluster = request.getfixturevalue("postgres_cluster")
    url = cluster.create_database()
    try:
        yield url
    finally:
        cluster.drop_database(url)


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    """Defaults with a temporary data path and the backend under test."""
    return settings_for(tmp_path / "data", database={"url": database_url})


@pytest.fixture
def app(settings: Settings) -> Iterator[AppContext]:
    """A wired application context on the backend under test."""
    context = build_context(settings)
    try:
        yield context
    finally:
        context.close()
