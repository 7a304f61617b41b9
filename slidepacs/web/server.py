"""Runs an ASGI app with uvicorn in a thread of its own, beside the DICOM listeners: the
HTTP front (:class:`HttpServer`) and the scanner API (slidepacs.scanner.server)."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from pathlib import Path
from typing import Any

import uvicorn

from slidepacs.bootstrap import AppContext, tls_files
from slidepacs.errors import ConfigError
from slidepacs.web.app import create_app

log = logging.getLogger(__name__)
_START_TIMEOUT = 60.0


class ThreadedUvicorn:
    """One ASGI app on ``host:port`` (HTTPS with ``certificate``/``key`` when given):
    ``start`` returns once it listens; ``stop`` once it stopped. ``setting`` names the
    settings section in errors (``http``, ``scanner_api``)."""

    def __init__(self, app: Any, host: str, port: int, setting: str, label: str,
                 tls: tuple[Path, Path] | None = None, keep_alive_seconds: int = 5) -> None:
        self.host, self.port, self.setting, self.label = host, port, setting, label
        self.tls = tls is not None
        options: dict[str, str] = {}
        if tls is not None:
            options = {"ssl_certfile": str(tls[0]), "ssl_keyfile": str(tls[1])}
        config = uvicorn.Config(app, host=host, port=port, log_config=None, access_log=False,
                                timeout_graceful_shutdown=5, timeout_keep_alive=keep_alive_seconds,
                                **options)  # type: ignore[arg-type]
        self._server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    @property
    def scheme(self) -> str:
        """``https`` with TLS, else ``http``."""
        return "https" if self.tls else "http"

    @property
    def base_url(self) -> str:
        """``scheme://host:port``."""
        return f"{self.scheme}://{self.host}:{self.port}"

    def start(self) -> None:
        """Listen, or raise ConfigError naming the setting when the port cannot be bound."""
        self._thread = threading.Thread(target=self._run, name=self.setting, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + _START_TIMEOUT
        while not self._server.started:
            if not self._thread.is_alive():
                raise ConfigError(f"{self.setting}.port", f"cannot listen on {self.host}:"
                                  f"{self.port} (in use or not allowed?)")
            if time.monotonic() > deadline:
                raise ConfigError(f"{self.setting}.port", f"the {self.label} did not start "
                                  f"listening on {self.host}:{self.port} within "
                                  f"{_START_TIMEOUT:.0f} s")
            time.sleep(0.02)

    def _run(self) -> None:
        loop_factory = self._server.config.get_loop_factory()  # uvloop where installed
        try:
            with asyncio.Runner(loop_factory=loop_factory) as runner:
                runner.run(self._server.serve())
        except SystemExit:  # uvicorn exits when it cannot bind
            log.error("%s could not start on %s:%d", self.label, self.host, self.port)

    def stop(self) -> None:
        """Stop accepting, finish running requests (a few seconds at most), and return."""
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)


class HttpServer(ThreadedUvicorn):
    """The DICOMweb front and browser UI."""

    def __init__(self, context: AppContext) -> None:
        settings = context.settings
        self._settings = settings.http
        super().__init__(create_app(context), settings.http.host, settings.http.port, "http",
                         "HTTP front", tls_files(settings)[:2] if settings.http.tls else None)

    def describe(self) -> list[str]:
        """The start-up banner's lines: the browser UI and DICOMweb."""
        access = self._settings.access.value
        return [f"browser UI    {self.base_url}/viewer/",
                f"DICOMweb      {self.base_url}/dicom-web  (access: {access}; "
                f"API docs at /docs)"]
