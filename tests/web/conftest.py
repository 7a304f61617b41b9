"""A running HTTP front over a fresh archive (SQLite and PostgreSQL), and clients for it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from dicomweb_client.api import DICOMwebClient

from slidepacs.bootstrap import AppContext, build_context, ensure_lab_pki, tls_files
from slidepacs.config import settings_for
from slidepacs.testing.orthanc import free_port
from slidepacs.web.server import HttpServer


@dataclass
class Web:
    """The archive behind the front, its DICOMweb root, and an HTTP client for raw requests."""

    app: AppContext
    root: str
    http: httpx.Client

    def dicomweb(self, **options: Any) -> DICOMwebClient:
        """The ``dicomweb-client`` package pointed at this archive."""
        return DICOMwebClient(url=self.root, **options)


def start_web(tmp_path: Path, database_url: str, **http: Any) -> Iterator[Web]:
    """Serve a fresh archive over HTTP until the generator is closed."""
    settings = settings_for(tmp_path / "data", database={"url": database_url},
                            http={"port": free_port(), **http})
    app = build_context(settings)
    if settings.http.tls:
        ensure_lab_pki(settings)  # the lab CA and server certificate, as serve makes them
    server = HttpServer(app)
    server.start()
    root = f"{server.scheme}://{settings.http.host}:{settings.http.port}/dicom-web"
    verify = str(tls_files(settings)[2]) if settings.http.tls else True
    try:
        with httpx.Client(base_url=root, timeout=60, verify=verify) as client:
            yield Web(app, root, client)
    finally:
        server.stop()
        app.close()


@pytest.fixture
def web(tmp_path: Path, database_url: str) -> Iterator[Web]:
    """An open (no token) HTTP front on the backend under test."""
    yield from start_web(tmp_path, database_url)
