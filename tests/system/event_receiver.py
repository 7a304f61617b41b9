"""Helpers for tests of the event receiver of a real ``slidepacs serve``."""

from __future__ import annotations

import json
import socket
import sqlite3
import time
import tomllib
from pathlib import Path

from tests.serve_process import ServeProcess


def event_server(tmp_path: Path, **events: int) -> ServeProcess:
    """A ServeProcess whose ``[events]`` section also has ``events`` (e.g. max_connections)."""
    server = ServeProcess(tmp_path / "cwd", tmp_path / "data")
    config = server.cwd / "slidepacs.toml"
    extra = "".join(f"{key} = {value}\n" for key, value in events.items())
    config.write_text(config.read_text().replace("[events]\n", f"[events]\n{extra}", 1))
    return server


def event_ports(server: ServeProcess) -> tuple[int, int]:
    """(plain, TLS) ports of the server's event receiver."""
    settings = tomllib.loads((server.cwd / "slidepacs.toml").read_text())["events"]
    return settings["port"], settings["tls_port"]


def logged_events(server: ServeProcess) -> list[dict]:
    """Every event in the server's event log files, oldest file first."""
    folder = server.data_path / "logs" / "events"
    files = sorted(folder.glob("events.log*"), key=lambda p: -int(p.suffix[1:] or 0)
                   if p.suffix != ".log" else 0)
    return [json.loads(line) for path in files for line in path.read_bytes().splitlines()]


def logged_count(server: ServeProcess) -> int:
    """How many events the event log files hold (without parsing them)."""
    folder = server.data_path / "logs" / "events"
    return sum(path.read_bytes().count(b"\n") for path in folder.glob("events.log*"))


def wait_for_logged(server: ServeProcess, count: int, timeout: float = 30.0) -> int:
    """Wait until the event log holds ``count`` events; return what it holds then."""
    deadline = time.monotonic() + timeout
    while (found := logged_count(server)) < count and time.monotonic() < deadline:
        time.sleep(0.1)
    return found


def indexed_events(server: ServeProcess) -> list[tuple[str, int, str, str]]:
    """(scanner, severity, code, message) of the events in the server's SQLite index."""
    with sqlite3.connect(server.data_path / "index.sqlite") as db:
        return db.execute("SELECT scanner, severity, code, message FROM scanner_events "
                          "ORDER BY pk").fetchall()


def send(port: int, payload: bytes) -> None:
    """Connect, send ``payload``, close."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.sendall(payload)


def json_line(**fields: object) -> bytes:
    """One JSON event line."""
    return json.dumps(fields).encode() + b"\n"
