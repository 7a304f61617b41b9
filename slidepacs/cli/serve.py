"""``slidepacs serve``: run the archive's network fronts until interrupted."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from contextlib import ExitStack
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from slidepacs.cli.context import app_context, console, state_of
from slidepacs.cli.demo import DemoOptions, offered_demo, start_demo

if TYPE_CHECKING:
    from slidepacs.bootstrap import AppContext
    from slidepacs.config import Settings

log = logging.getLogger(__name__)
LOOPBACK = {"127.0.0.1", "::1", "localhost"}


def serve(
    ctx: typer.Context,
    offer_demo: Annotated[bool, typer.Option(
        "--offer-demo", hidden=True,
        help="On an empty archive and a terminal, offer to start the demo scanners "
             "(make run).")] = False,
) -> None:
    """Start the archive with the configured settings and print where it listens."""
    run_archive(ctx, offer_demo=offer_demo)


def run_archive(ctx: typer.Context, demo: DemoOptions | None = None,
                offer_demo: bool = False) -> None:
    """Run every front until SIGINT/SIGTERM; with ``demo``, virtual scanners as well."""
    from slidepacs.bootstrap import ensure_lab_pki
    from slidepacs.config import mask_url

    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):  # before announcing, so no stop is lost
        signal.signal(signum, lambda *_: stop.set())
    with app_context(state_of(ctx)) as app, ExitStack() as running:
        settings = app.settings
        created_pki = ensure_lab_pki(settings)
        listening = start_fronts(app, running)
        console.print("[bold green]slidepacs is running[/bold green]")
        for line in listening:
            console.print(f"  {line}", highlight=False)
        _warn_if_open_to_the_network(settings)
        if created_pki:
            console.print(f"  created a lab CA for TLS in {settings.tls_folder.resolve()} "
                          "(give ca.pem to scanners and peers)")
        console.print(f"  data path     {settings.storage.data_path.resolve()}")
        for path in settings.storage.backup_paths:
            console.print(f"  backup path   {path.resolve()}")
        console.print(f"  index         {mask_url(settings.database_url)}")
        console.print(f"  logs          {settings.log_path.resolve()}")
        _print_forwarding(app)
        _print_first_admin(app.accounts.ensure_initial_admin())
        console.print("  import files with: slidepacs import PATH --recursive")
        console.print("  register a DICOM peer with: slidepacs ae add NAME AETITLE HOST PORT")
        if demo is None and offer_demo:
            demo = offered_demo(app)
        if demo is not None:
            start_demo(app, running, demo)
        stop.wait()
    console.print("slidepacs stopped.")


def start_fronts(app: AppContext, running: ExitStack) -> list[str]:
    """Start the forwarding worker, slide outputs and every enabled listener, each stopped
    by ``running`` (in reverse order); the banner's lines."""
    # here, not at the top: bootstrap (SQLAlchemy, pynetdicom, every service) is slow to import
    from slidepacs.bootstrap import (
        build_dimse_server,
        build_event_receiver,
        build_forward_worker,
        build_print_server,
    )
    from slidepacs.scanner.server import ScannerApiServer
    from slidepacs.web.server import HttpServer

    settings = app.settings
    forwarder = build_forward_worker(app)
    forwarder.start()
    running.callback(forwarder.stop)
    app.slide_outputs.start()
    running.callback(app.slide_outputs.stop)
    dimse = build_dimse_server(app)
    dimse.start()
    running.callback(dimse.stop)  # stopped first: no new work once stopping begins
    listening = dimse.describe()
    optional: list[tuple[bool, Callable[[], Any]]] = [
        (settings.print.enabled, lambda: build_print_server(app)),
        (settings.events.enabled, lambda: build_event_receiver(app)),
        (settings.http.enabled, lambda: HttpServer(app)),
        (settings.scanner_api.enabled, lambda: ScannerApiServer(app)),
    ]
    for enabled, build in optional:
        if enabled:
            front = build()
            front.start()
            running.callback(front.stop)
            listening += front.describe()
    return listening


def _print_first_admin(password: str | None) -> None:
    """The first account's password, shown once: it is stored only as a hash."""
    if password is not None:
        console.print("  [bold yellow]first start: created the account 'admin' with password "
                      f"{escape(password)}[/bold yellow] (shown only now; it must be changed "
                      "at first log-in, or set another with: slidepacs user passwd admin)",
                      highlight=False)


def _warn_if_open_to_the_network(settings: Settings) -> None:
    """An HTTP front without access control should listen on loopback only: say so."""
    http = settings.http
    if http.enabled and http.access.value == "open" and http.host not in LOOPBACK:
        message = (f"the HTTP front listens on {http.host} with access = \"open\": anyone who "
                   "can reach it reads and stores images (set http.access = \"accounts\")")
        log.warning(message)
        console.print(f"  [yellow]warning: {escape(message)}[/yellow]")


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
