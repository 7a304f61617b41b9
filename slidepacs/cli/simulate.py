"""``slidepacs scanner simulate``: run a virtual slide scanner against slidepacs (SPEC §5)."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from slidepacs.cli.context import console, reported_errors, state_of
from slidepacs.errors import InvalidInput

if TYPE_CHECKING:
    from slidepacs.config import Settings
    from slidepacs.simulator.client import ScannerConfig
    from slidepacs.simulator.scanner import SimulatorOptions, SlideReport, Summary, VirtualScanner
    from slidepacs.simulator.sender import TlsClient

DEFAULT_API_URL = "https://127.0.0.1:44386/api/v1"


def simulate(
    ctx: typer.Context,
    api_url: Annotated[str, typer.Option("--api-url", help="The scanner API.")] = DEFAULT_API_URL,
    token: Annotated[str | None, typer.Option(
        help="The scanner's token (else $SLIDEPACS_SCANNER_TOKEN).", show_default=False)] = None,
    ca: Annotated[Path | None, typer.Option(
        help="Lab CA certificate (default: <data_path>/tls/ca.pem of the configuration).")
    ] = None,
    receiver: Annotated[str | None, typer.Option(
        help="HOST:PORT of a slide receiver to send to without the scanner API "
             "(no configuration pull, heartbeats or metadata).")] = None,
    calling_ae: Annotated[str, typer.Option(help="Calling AE title with --receiver.")
                          ] = "VSCAN",
    called_ae: Annotated[str, typer.Option(help="Called AE title with --receiver.")
                         ] = "SVS_STORE_SCP",
    sparse: Annotated[bool, typer.Option(help="TILED_SPARSE with --receiver.")] = False,
    name: Annotated[str, typer.Option(help="Scanner name in events with --receiver; its "
                                      "serial number is derived from it.")] = "Virtual scanner",
    racks: Annotated[int, typer.Option(min=1, max=15, help="Racks loaded.")] = 15,
    slides_per_rack: Annotated[int, typer.Option(min=1, max=30, help="Slides per rack.")] = 30,
    priority_racks: Annotated[int, typer.Option(min=0, max=3,
                                                help="Racks scanned first (the last N loaded).")] = 0,
    speed: Annotated[float, typer.Option(min=0.001, help="Times faster than the real scanner "
                                         "(81 slides/hour at 1).")] = 1.0,
    slides: Annotated[int | None, typer.Option(min=1, help="Stop after this many slides.")
                      ] = None,
    continuous: Annotated[bool, typer.Option(help="Reload finished racks: scan until "
                                             "stopped or --slides.")] = False,
    qc_failure_rate: Annotated[float, typer.Option(min=0.0, max=1.0,
                                                   help="Share of slides failing QC.")] = 0.02,
    incident_rate: Annotated[float, typer.Option(min=0.0, max=1.0, help="Share of slides "
                                                 "with a warning or error event.")] = 0.05,
    omit_barcode_rate: Annotated[float, typer.Option(min=0.0, max=1.0, help="Share of "
                                 "slides sent without Barcode Value.")] = 0.0,
    seed: Annotated[int, typer.Option(help="Same seed, same slides, times and failures.")] = 0,
    slide_size: Annotated[str, typer.Option(help="Base level WIDTHxHEIGHT in pixels "
                                            "(default ~6 MB a slide).")] = "4096x2560",
    first_image_id: Annotated[int | None, typer.Option(
        min=1, help="Image ID of the first slide (default: from the seed).")] = None,
) -> None:
    """Run a virtual slide scanner: racks, priorities, timing, barcodes, QC failures and
    events; slides by DICOM TLS, metadata and heartbeats to the scanner API."""
    from slidepacs.simulator.scanner import SimulatorOptions, VirtualScanner
    from slidepacs.simulator.slides import ScannerIdentity, parse_slide_size

    with reported_errors():
        tls = _tls(state_of(ctx).settings(), ca)
        options = SimulatorOptions(
            racks=racks, slides_per_rack=slides_per_rack, priority_racks=priority_racks,
            speed=speed, slides=slides, continuous=continuous, qc_failure_rate=qc_failure_rate,
            incident_rate=incident_rate, omit_barcode_rate=omit_barcode_rate, seed=seed,
            slide_size=parse_slide_size(slide_size), first_image_id=first_image_id,
            identity=ScannerIdentity(serial=_serial(name)))
        if receiver is not None:
            config = _fixed_config(receiver, name, called_ae, calling_ae, sparse)
            scanner = VirtualScanner(options, config=config, tls=tls)
        else:
            from slidepacs.config import SCANNER_TOKEN_ENV
            from slidepacs.simulator.client import ScannerApi

            api = ScannerApi(api_url, token or os.environ.get(SCANNER_TOKEN_ENV, ""), tls.ca)
            scanner = VirtualScanner(options, api=api, tls=tls)
        try:
            summary = _run_with_progress(scanner, options)
        finally:
            if scanner.api is not None:
                scanner.api.close()
    _print_summary(summary)
    if summary.errors:
        raise typer.Exit(1)


def _tls(settings: Settings, ca: Path | None) -> TlsClient:
    """The lab CA (or ``ca``) and the lab client certificate when it exists."""
    from slidepacs.services.certificates import TlsFiles
    from slidepacs.simulator.sender import TlsClient

    lab = TlsFiles(settings.tls_folder)
    trusted = ca or settings.tls.ca or lab.ca
    if not trusted.is_file():
        raise InvalidInput(f"{trusted}: no CA certificate (give --ca, or run `slidepacs tls "
                           f"init` / start the archive once to make the lab PKI)")
    return TlsClient(trusted, lab.client_certificate, lab.client_key)


def _serial(name: str) -> str:
    letters = "".join(c for c in name.upper() if c.isalnum())[:12] or "VS"
    return f"VS450-{letters}"


def _fixed_config(receiver: str, name: str, called: str, calling: str,
                  sparse: bool) -> ScannerConfig:
    from slidepacs.simulator.client import ScannerConfig

    host, _, port = receiver.rpartition(":")
    if not host or not port.isdigit():
        raise InvalidInput(f"--receiver must be HOST:PORT, not {receiver!r}")
    return ScannerConfig(name, 0, host, int(port), called, calling, sparse, "DICOM", host,
                         0, 0, 15.0)


def _run_with_progress(scanner: VirtualScanner, options: SimulatorOptions) -> Summary:
    """Run the scanner in a thread with a progress bar; Ctrl-C stops it cleanly."""
    total = options.slides or (None if options.continuous
                               else options.racks * options.slides_per_rack)
    stop = threading.Event()
    result: list[Summary] = []
    failure: list[BaseException] = []

    with Progress(TextColumn("[bold]scanning"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("{task.fields[status]}"), TimeElapsedColumn(), console=console,
                  transient=True) as progress:
        task = progress.add_task("slides", total=total, status="")

        def scanned(report: SlideReport) -> None:
            summary = scanner.summary
            progress.update(task, advance=1, status=(
                f"rack {report.slot.rack} slot {report.slot.slot}  sent {summary.sent}  "
                f"QC failed {summary.qc_failed}  retries {summary.retries}  "
                f"{summary.bytes_sent / 1e6:.0f} MB"))

        scanner.on_slide = scanned

        finished = threading.Event()  # not Thread.join: a Ctrl-C inside it can end the wait

        def work() -> None:
            try:
                result.append(scanner.run(stop))
            except BaseException as exc:  # reported by the main thread
                failure.append(exc)
            finally:
                finished.set()

        threading.Thread(target=work, name="virtual-scanner", daemon=True).start()
        try:
            while not finished.wait(0.2):
                pass
        except KeyboardInterrupt:
            console.print("stopping: the slide in progress is abandoned…")
            stop.set()
            finished.wait()
    if failure:
        raise failure[0]
    return result[0]


def _print_summary(summary: Summary) -> None:
    table = Table(title="Virtual scanner", show_header=False)
    rows = [("slides scanned", summary.scanned), ("sent", summary.sent),
            ("QC failed (not sent)", summary.qc_failed),
            ("not sent (stopped while retrying)", summary.not_sent),
            ("send retries", summary.retries),
            ("abandoned at stop", summary.abandoned),
            ("MB sent", f"{summary.bytes_sent / 1e6:.1f}"),
            ("MB/s", f"{summary.megabytes_per_second:.1f}"),
            ("metadata posted", summary.metadata_posted),
            ("metadata joined to images", summary.metadata_joined), ("heartbeats", summary.heartbeats),
            ("events sent", summary.events_sent), ("events dropped", summary.events_dropped),
            ("seconds", f"{summary.seconds:.1f}")]
    for label, value in rows:
        table.add_row(label, str(value))
    console.print(table)
    for error in summary.errors:
        console.print(f"[red]error:[/red] {error}")
