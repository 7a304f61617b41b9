"""``slidepacs serve``: run the archive's network fronts until interrupted."""

from __future__ import annotations

import logging
import signal
import threading

import typer
from rich.markup import escape

from slidepacs.bootstrap import (
    AppContext,
    build_dimse_server,
    build_forward_worker,
    ensure_lab_pki,
)
from slidepacs.cli.context import app_context, console, state_of
from slidepacs.config import mask_url

log = logging.getLogger(__name__)


def serve(ctx: typer.Context) -> None:
    """Start the archive with the configured settings and print where it listens."""
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):  # before announcing, so no stop is lost
        signal.signal(signum, lambda *_: stop.set())
    with app_context(state_of(ctx)) as app:
        settings = app.settings
        created_pki = ensure_lab_pki(settings)
        dimse = build_dimse_server(app)
        forwarder = build_forward_worker(app)
        forwarder.start()
        app.slide_outputs.start()
        try:
            dimse.start()
        except BaseException:
            forwarder.stop()
            app.slide_outputs.stop()
            raise
        console.print("[bold green]slidepacs is running[/bold green]")
        for line in dimse.describe():
            console.print(f"  {line}", highlight=False)
        if created_pki:
            console.print(f"  created a lab CA for TLS in {settings.tls_folder.resolve()} "
                          "(give ca.pem to scanners and peers)")
        console.print(f"  data path     {settings.storage.data_path.resolve()}")
        for path in settings.storage.backup_paths:
            console.print(f"  backup path   {path.resolve()}")
        console.print(f"  index         {mask_url(settings.database_url)}")
        console.print(f"  logs          {settings.log_path.resolve()}")
        _print_forwarding(app)
        console.print("  import files with: slidepacs import PATH --recursive")
        console.print("  register a DICOM peer with: slidepacs ae add NAME AETITLE HOST PORT")
        try:
            stop.wait()
        finally:
            dimse.stop()
            forwarder.stop()
            app.slide_outputs.stop()
        console.print("slidepacs stopped.")


def _print_forwarding(app: AppContext) -> None:
    """The forwarding rules in force, and a warning for each unregistered destination."""
    rules = app.forwarding.rules.all()
    workers = app.settings.forwarding.workers
    console.print(f"  forwarding    {len(rules)} rule(s), {workers} destination(s) served at once")
    for rule in app.forwarding.rules.unregistered_destinations():
        message = (f"forwarding rule {rule.name!r}: destination {rule.destination!r} is not a "
                   "registered AE; its instances wait in the queue until it is (slidepacs ae add)")
        log.warning(message)
        console.print(f"  [yellow]warning: {escape(message)}[/yellow]")
