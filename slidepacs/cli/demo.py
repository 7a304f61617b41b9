"""``slidepacs demo``: the archive plus virtual scanners that send slides to it (SPEC §5), so
a new user sees the whole flow — scanners pulling their configuration, slides arriving by
DICOM TLS, metadata, heartbeats and events — within a minute, without hardware.

The demo scanners are registered like real ones (``Demo scanner N``, AE ``DEMO_SCANNER_N``)
with example Images settings; each start gives them new tokens. They scan their racks once
and stop; the archive keeps running until Ctrl-C.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from slidepacs.cli.context import console
from slidepacs.errors import ConfigError, NotFound

if TYPE_CHECKING:
    from slidepacs.bootstrap import AppContext
    from slidepacs.simulator.scanner import VirtualScanner
    from slidepacs.simulator.sender import TlsClient

log = logging.getLogger(__name__)
# example Images settings: barcodes normalised to S26-000123, case ID = the 6 digits
DEMO_IMAGES = {
    "barcode_value_identifier": r"S?\d{2}-?\d{6}",
    "barcode_value_modifier": r"^S?(\d{2})-?(\d{6})$",
    "barcode_value_substitution_format": "S$1-$2",
    "slide_id_format": r"S?\d{2}-?\d{6}",
    "case_id_format": r"\d{2}-?(\d{6})",
    "image_filename_format": "{BARCODEID}_{IMAGEID}",
}
ORGANIZATIONS = ("FULL", "SPARSE")  # demo scanners alternate


@dataclass(frozen=True, slots=True)
class DemoOptions:
    """How many virtual scanners, and what they scan."""

    scanners: int = 2
    racks: int = 2
    slides_per_rack: int = 10
    speed: float = 30.0


def demo(
    ctx: typer.Context,
    scanners: Annotated[int, typer.Option(min=1, max=20, help="Virtual scanners.")] = 2,
    racks: Annotated[int, typer.Option(min=1, max=15, help="Racks each scanner scans.")] = 2,
    slides_per_rack: Annotated[int, typer.Option(min=1, max=30,
                                                 help="Slides in each rack.")] = 10,
    speed: Annotated[float, typer.Option(min=0.1, help="Times faster than a real scanner "
                                         "(81 slides/hour at 1).")] = 30.0,
) -> None:
    """Start the archive and virtual scanners that send it slides (see them in the browser)."""
    from slidepacs.cli.serve import run_archive

    run_archive(ctx, demo=DemoOptions(scanners, racks, slides_per_rack, speed))


def offered_demo(app: AppContext) -> DemoOptions | None:
    """On a terminal and an archive with no studies and no scanners: ask whether to start
    the demo scanners; otherwise print how to."""
    from slidepacs.domain.query import Level, Query

    empty = not app.scanners.scanners() and app.query.count(Query(Level.STUDY, ())) == 0
    if not empty:
        return None
    if not sys.stdin.isatty():
        console.print("  see slides arrive: slidepacs demo (two virtual scanners)")
        return None
    try:
        answer = typer.confirm("  The archive is empty. Start two virtual scanners that send "
                               "it demo slides?", default=False)
    except typer.Abort:  # Ctrl-D at the question: no demo, the archive keeps running
        return None
    return DemoOptions() if answer else None


def start_demo(app: AppContext, running: ExitStack, options: DemoOptions) -> None:
    """Register (or renew) the demo scanners and run them in threads stopped by
    ``running``; print what to look at."""
    from slidepacs.simulator.client import ScannerApi
    from slidepacs.simulator.scanner import SimulatorOptions, VirtualScanner
    from slidepacs.simulator.slides import ScannerIdentity

    settings = app.settings
    _check_demo_settings(app)
    tls = _tls_client(app)
    url = _api_url(app)
    stop = threading.Event()
    threads: list[threading.Thread] = []
    first = (int(time.time()) // 60 % 1_000_000) * 1000  # new image IDs on every start
    for number in range(1, options.scanners + 1):
        name, token = _demo_scanner(app, number)
        scanner = VirtualScanner(
            SimulatorOptions(racks=options.racks, slides_per_rack=options.slides_per_rack,
                             speed=options.speed, seed=number,
                             first_image_id=first + (number - 1) * 450,
                             identity=ScannerIdentity(serial=f"DEMO-{number:04d}")),
            api=ScannerApi(url, token, tls.ca), tls=tls)
        thread = threading.Thread(target=_run_quietly, args=(scanner, stop, name),
                                  name=f"demo scanner {number}", daemon=True)
        thread.start()
        threads.append(thread)

    def stop_scanners() -> None:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)

    running.callback(stop_scanners)
    host = "127.0.0.1" if settings.http.host in ("0.0.0.0", "::") else settings.http.host
    scheme = "https" if settings.http.tls else "http"
    console.print(f"  [bold]demo[/bold]: {options.scanners} virtual scanner(s) send "
                  f"{options.racks * options.slides_per_rack} slides each; watch them arrive "
                  f"at {scheme}://{host}:{settings.http.port}/viewer/#/list?modality=SM "
                  "and their status under Administration › Scanners", highlight=False)


def _check_demo_settings(app: AppContext) -> None:
    settings = app.settings
    if not settings.scanner_api.enabled:
        raise ConfigError("scanner_api.enabled", "the demo scanners need the scanner API")
    if not (settings.slide_receiver.enabled and settings.slide_receiver.tls):
        raise ConfigError("slide_receiver.enabled", "the demo scanners send slides to the "
                          "TLS slide receiver: enable it with tls = true")


def _demo_scanner(app: AppContext, number: int) -> tuple[str, str]:
    """(name, token) of demo scanner ``number``: registered with the demo Images settings
    the first time, a new token and the current slide receiver every time."""
    from slidepacs.services.scanners import NewScanner

    name = f"Demo scanner {number}"
    receiver = app.settings.slide_receiver
    try:
        app.scanners.show(name)
        token = app.scanners.new_token(name, actor="demo")
        app.scanners.update_images(name, {"port": receiver.port, "title": receiver.ae_title},
                                   actor="demo")  # the slide receiver may have moved
    except NotFound:
        _, token = app.scanners.register(NewScanner(
            name, f"DEMO_SCANNER_{number}", model="Virtual GT 450-class",
            serial=f"DEMO-{number:04d}"), actor="demo")
        app.scanners.update_images(name, {**DEMO_IMAGES, "dimension_organization":
                                          ORGANIZATIONS[(number - 1) % 2]}, actor="demo")
    return name, token


def _tls_client(app: AppContext) -> TlsClient:
    """The CA (and client certificate of the lab PKI, when it is used) for the scanners."""
    from slidepacs.bootstrap import tls_files
    from slidepacs.services.certificates import TlsFiles
    from slidepacs.simulator.sender import TlsClient

    settings = app.settings
    if settings.tls_uses_lab_pki:
        lab = TlsFiles(settings.tls_folder)
        return TlsClient(lab.ca, lab.client_certificate, lab.client_key)
    return TlsClient(tls_files(settings)[2])


def _api_url(app: AppContext) -> str:
    api = app.settings.scanner_api
    host = "127.0.0.1" if api.host in ("0.0.0.0", "::") else api.host
    return f"{'https' if api.tls else 'http'}://{host}:{api.port}/api/v1"


def _run_quietly(scanner: VirtualScanner, stop: threading.Event, name: str) -> None:
    """Run a demo scanner; its failure is logged and shown, never raised into the archive."""
    try:
        summary = scanner.run(stop)
        log.info("%s: %d slide(s) scanned, %d sent", name, summary.scanned, summary.sent)
    except Exception as exc:  # noqa: BLE001 - a demo scanner must not take the archive down
        log.exception("%s stopped", name)
        console.print(f"  [yellow]{escape(name)} stopped: {escape(str(exc))}[/yellow]")
