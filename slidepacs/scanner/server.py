"""Runs the scanner API with uvicorn in a thread of its own (HTTPS with the TLS files of
``tls_files`` unless ``scanner_api.tls = false``)."""

from __future__ import annotations

from slidepacs.bootstrap import AppContext, tls_files
from slidepacs.scanner.api import PREFIX, create_scanner_app
from slidepacs.web.server import ThreadedUvicorn


class ScannerApiServer(ThreadedUvicorn):
    """The scanner API on ``scanner_api.host:port``."""

    def __init__(self, context: AppContext) -> None:
        settings = context.settings
        api = settings.scanner_api
        super().__init__(create_scanner_app(context.scanners, api.max_metadata_kb * 1024),
                         api.host, api.port, "scanner_api", "scanner API",
                         tls_files(settings)[:2] if api.tls else None,
                         # longer than a heartbeat period: a scanner's idle connection is
                         # not closed just as it sends its next beat
                         keep_alive_seconds=api.heartbeat_seconds * 2 + 5)

    @property
    def root(self) -> str:
        """The API's base URL."""
        return f"{self.base_url}{PREFIX}"

    def describe(self) -> list[str]:
        """The start-up banner's line."""
        return [f"scanner API   {self.root}"]
