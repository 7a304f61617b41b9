"""``slidepacs serve``: run the archive's network fronts until interrupted."""

from __future__ import annotations

import signal
import threading

import typer

from slidepacs.bootstrap import build_dimse_server
from slidepacs.cli.context import app_context, console, state_of
from slidepacs.errors import ConfigError
from slidepacs.config import mask_url


def serve(ctx: typer.Context) -> None:
    """Start the archive with the configured settings and print where it listens."""
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):  # before announcing, so no stop is lost
        signal.signal(signum, lambda *_: stop.set())
    with app_context(state_of(ctx)) as app:
        settings = app.settings
        dimse = build_dimse_server(app, slide_receiver=False)
        try:
            dimse.start()
        except OSError as exc:
            raise ConfigError("dicom.port", f"cannot listen on {settings.dicom.host}:"
                              f"{settings.dicom.port} ({exc.strerror})") from None
        console.print("[bold green]slidepacs is running[/bold green]")
        console.print(f"  DICOM         {settings.dicom.ae_title} on {settings.dicom.host}:"
                      f"{settings.dicom.port} (C-ECHO, C-STORE, C-FIND, C-GET, C-MOVE)")
        console.print(f"  data path     {settings.storage.data_path.resolve()}")
        for path in settings.storage.backup_paths:
            console.print(f"  backup path   {path.resolve()}")
        console.print(f"  index         {mask_url(settings.database_url)}")
        console.print(f"  logs          {settings.log_path.resolve()}")
        console.print("  import files with: slidepacs import PATH --recursive")
        console.print("  register a DICOM peer with: slidepacs ae add NAME AETITLE HOST PORT")
        try:
            stop.wait()
        finally:
            dimse.stop()
        console.print("slidepacs stopped.")
