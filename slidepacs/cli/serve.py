"""``slidepacs serve``: run the archive's network fronts until interrupted."""

from __future__ import annotations

import signal
import threading

import typer

from slidepacs.cli.context import app_context, console, state_of
from slidepacs.config import mask_url


def serve(ctx: typer.Context) -> None:
    """Start the archive with the configured settings and print where it listens."""
    with app_context(state_of(ctx)) as app:
        settings = app.settings
        console.print("[bold green]slidepacs is running[/bold green]")
        console.print(f"  data path     {settings.storage.data_path.resolve()}")
        for path in settings.storage.backup_paths:
            console.print(f"  backup path   {path.resolve()}")
        console.print(f"  index         {mask_url(settings.database_url)}")
        console.print(f"  logs          {settings.log_path.resolve()}")
        console.print("  import files with: slidepacs import PATH --recursive")
        stop = threading.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stop.set())
        stop.wait()
        console.print("slidepacs stopped.")
