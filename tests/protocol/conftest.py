"""A running DICOM front on loopback, in-process, on both index backends."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from slidepacs.bootstrap import AppContext, build_context, build_dimse_server
from slidepacs.config import settings_for


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class RunningDimse:
    app: AppContext
    port: int
    ae_title: str


def start_front(tmp_path: Path, database_url: str, accept_unregistered: bool) -> Iterator[RunningDimse]:
    """Run a DICOM front (general listener only) until the generator is closed."""
    port = free_port()
    settings = settings_for(
        tmp_path / "data",
        dicom={"port": port, "accept_unregistered": accept_unregistered},
        slide_receiver={"port": free_port()},
        database={"url": database_url},
    )
    app = build_context(settings)
    server = build_dimse_server(app, slide_receiver=False)
    server.start()
    try:
        yield RunningDimse(app, port, settings.dicom.ae_title)
    finally:
        server.stop()
        app.close()


@pytest.fixture
def dimse(tmp_path: Path, database_url: str) -> Iterator[RunningDimse]:
    """A DICOM front that only admits registered AEs."""
    yield from start_front(tmp_path, database_url, accept_unregistered=False)


@pytest.fixture
def open_dimse(tmp_path: Path, database_url: str) -> Iterator[RunningDimse]:
    """A DICOM front that accepts (and auto-registers) unknown AEs."""
    yield from start_front(tmp_path, database_url, accept_unregistered=True)
