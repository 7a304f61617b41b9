"""Runs the HTTP front with uvicorn in a thread of its own, beside the DICOM listeners."""

from __future__ import annotations

import asyncio
import logging
import threading
import time

import uvicorn

from slidepacs.bootstrap import AppContext, tls_files
from slidepacs.errors import ConfigError
from slidepacs.web.app import create_app

log = logging.getLogger(__name__)
_START_TIMEOUT = 60.0


class HttpServer:
    """The DICOMweb front: ``start`` returns once it listens; ``stop`` once it stopped."""

    def __init__(self, context: AppContext) -> None:
        settings = context.settings
        self._settings = settings.http
        tls: dict[str, str] = {}
        if settings.http.tls:
            certificate, key, _ca = tls_files(settings)
            tls = {"ssl_certfile": str(certificate), "ssl_keyfile": str(key)}
        config = uvicorn.Config(create_app(context), host=settings.http.host,
                                port=settings.http.port, log_config=None, access_log=False,
                                timeout_graceful_shutdown=5, **tls)  # type: ignore[arg-type]
        self._server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    @property
    def scheme(self) -> str:
        """``https`` with TLS, else ``http``."""
        return "https" if self._settings.tls else "http"

    def start(self) -> None:
        """Listen, or raise ConfigError naming the setting when the port cannot be bound."""
        self._thread = threading.Thread(target=self._run, name="http", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + _START_TIMEOUT
        while not self._server.started:
            if not self._thread.is_alive():
                raise ConfigError("http.port", f"cannot listen on {self._settings.host}:"
                                  f"{self._settings.port} (in use or not allowed?)")
            if time.monotonic() > deadline:
                raise ConfigError("http.port", f"the HTTP front did not start listening on "
                                  f"{self._settings.host}:{self._settings.port} within "
                                  f"{_START_TIMEOUT:.0f} s")
            time.sleep(0.02)

    def _run(self) -> None:
        loop_factory = self._server.config.get_loop_factory()  # uvloop where installed
        try:
            with asyncio.Runner(loop_factory=loop_factory) as runner:
                runner.run(self._server.serve())
        except SystemExit:  # uvicorn exits when it cannot bind
            log.error("HTTP front could not start on %s:%d", self._settings.host,
                      self._settings.port)

    def stop(self) -> None:
        """Stop accepting, finish running requests (a few seconds at most), and return."""
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)

    def describe(self) -> list[str]:
        """The start-up banner's lines: the browser UI and DICOMweb."""
        host, port = self._settings.host, self._settings.port
        access = self._settings.access.value
        return [f"browser UI    {self.scheme}://{host}:{port}/viewer/",
                f"DICOMweb      {self.scheme}://{host}:{port}/dicom-web  (access: {access}; "
                f"API docs at /docs)"]
