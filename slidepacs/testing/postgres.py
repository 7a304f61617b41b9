"""A throw-away PostgreSQL cluster for tests: initdb in a temporary folder, started on a free
loopback port, removed afterwards. Runs the server as the ``postgres`` user when we are root."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

import psycopg


class PostgresUnavailable(RuntimeError):
    """PostgreSQL binaries are not installed (``make test`` installs them from apt)."""


def _binaries() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(p.split("/")[4]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).resolve().parent
    raise PostgresUnavailable("PostgreSQL is not installed: run `make test` (it installs it)")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class PostgresCluster:
    """One private PostgreSQL server; ``create_database`` hands out fresh databases."""

    def __init__(self) -> None:
        self.bin = _binaries()
        self.base = Path(tempfile.mkdtemp(prefix="slidepacs-pg-"))
        self.data = self.base / "data"
        self.port = _free_port()
        self.user = "slidepacs"
        self._as_postgres = os.geteuid() == 0

    def _run(self, *args: str) -> None:
        command = [str(a) for a in args]
        if self._as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed: {result.stderr or result.stdout}")

    def start(self) -> None:
        """initdb and start the server; wait until it accepts connections."""
        if self._as_postgres:
            entry = pwd.getpwnam("postgres")
            os.chown(self.base, entry.pw_uid, entry.pw_gid)
        os.chmod(self.base, 0o755)
        self._run(self.bin / "initdb", "-D", self.data, "-A", "trust", "-U", self.user,
                  "-E", "UTF8", "--locale=C", "--no-sync")
        options = (f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1 "
                   "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
                   "-c max_connections=200")
        self._run(self.bin / "pg_ctl", "-D", self.data, "-o", options, "-l",
                  self.base / "server.log", "-w", "-t", "60", "start")

    def stop(self) -> None:
        """Stop the server and delete its files."""
        try:
            self._run(self.bin / "pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.base, ignore_errors=True)

    def url(self, database: str) -> str:
        """SQLAlchemy URL of a database in this cluster."""
        return f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        """Create an empty database and return its URL."""
        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self._admin_dsn(), autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_database(self, url: str) -> None:
        """Drop a database created by ``create_database``."""
        name = url.rsplit("/", 1)[-1]
        with psycopg.connect(self._admin_dsn(), autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def _admin_dsn(self) -> str:
        return f"host=127.0.0.1 port={self.port} user={self.user} dbname=postgres"
