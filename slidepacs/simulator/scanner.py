"""The virtual scanner (SPEC §4, §5): scans its racks (priority racks first) at the spec's
pace times a speed factor, and for each slide sends the images by DICOM TLS, posts the
metadata and reports events; heartbeats and configuration pulls run alongside.

Embeddable: ``VirtualScanner(...).run(stop)`` in any thread; setting ``stop`` abandons the
slide being scanned (a slide being sent is finished first unless the send has to be retried)
and ``run`` returns a :class:`Summary`.
"""

from __future__ import annotations

import logging
import random
import shutil
import ssl
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from slidepacs.errors import SlidepacsError
from slidepacs.simulator.client import ScannerApi, ScannerConfig
from slidepacs.simulator.event_sender import EventSender, event_line
from slidepacs.simulator.labels import PrintedLabel, label_for
from slidepacs.simulator.racks import Racks, SlotRef
from slidepacs.simulator.sender import Destination, SlideNotSent, SlideSender, TlsClient
from slidepacs.simulator.slides import (
    DEFAULT_SIZE,
    MAGNIFICATION,
    SCANNER_MPP,
    ScannedSlide,
    ScannerIdentity,
    write_slide,
)
from slidepacs.simulator.timing import SlideTiming, Timing

log = logging.getLogger(__name__)

# Events a scanner reports now and then while the slide is still scanned (severity, code, text)
INCIDENTS = [
    ("warning", "FOCUS_RETRY", "Focus point rejected; refocused"),
    ("warning", "TISSUE_FIND_LOW", "Little tissue found; scanning the whole area"),
    ("notice", "RACK_DOOR", "Rack door opened and closed"),
    ("error", "SLIDE_LOAD_RETRY", "Slide gripper retry while loading the slide"),
]


@dataclass(frozen=True, slots=True)
class SimulatorOptions:
    """How the virtual scanner behaves."""

    racks: int = 15
    slides_per_rack: int = 30
    priority_racks: int = 0          # the last N racks loaded get priority (0-3)
    speed: float = 1.0               # times faster than the real scanner
    slides: int | None = None        # stop after this many slides (None: when racks run out)
    continuous: bool = False         # reload finished racks (scan until stopped)
    qc_failure_rate: float = 0.02    # QC_FAILED: the slide is not sent
    incident_rate: float = 0.05      # other warning / error events
    omit_barcode_rate: float = 0.0   # no Barcode Value: the archive reads the label
    seed: int = 0
    slide_size: tuple[int, int] = DEFAULT_SIZE
    first_image_id: int | None = None  # None: from the seed
    identity: ScannerIdentity = ScannerIdentity()
    work_dir: Path | None = None     # where slides are written before sending (None: temp)
    send_timeout: float = 30.0


@dataclass(frozen=True, slots=True)
class SlideReport:
    """What happened to one slide."""

    image_id: str
    slot: SlotRef
    qc_passed: bool
    sent: bool
    attempts: int
    file_size: int
    barcode: str
    seconds: float


@dataclass(frozen=True, slots=True)
class _Plan:
    """What is drawn for a slide before it is scanned."""

    image_id: str
    number: int
    label: PrintedLabel
    timing: SlideTiming
    qc_passed: bool
    incident: bool
    with_barcode: bool
    scanned_at: datetime


@dataclass
class Summary:
    """What the scanner did."""

    scanned: int = 0
    sent: int = 0
    qc_failed: int = 0
    not_sent: int = 0                # given up at a stop while retrying
    retries: int = 0                 # failed send attempts that were tried again
    abandoned: int = 0
    bytes_sent: int = 0
    metadata_posted: int = 0
    metadata_joined: int = 0         # the archive had the slide's images when it got them
    events_sent: int = 0
    events_dropped: int = 0
    heartbeats: int = 0
    config_pulls: int = 0
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)
    image_ids: list[str] = field(default_factory=list)

    @property
    def megabytes_per_second(self) -> float:
        """Bytes sent per second of running, in MB."""
        return self.bytes_sent / 1e6 / self.seconds if self.seconds else 0.0


class VirtualScanner:
    """A scanner with racks, a network configuration and its three links to slidepacs.

    Give ``api`` (the configuration is pulled from it, heartbeats and metadata go to it) or,
    without an API, a fixed ``config``.
    """

    def __init__(self, options: SimulatorOptions, *, api: ScannerApi | None = None,
                 config: ScannerConfig | None = None, tls: TlsClient | None = None,
                 on_slide: Callable[[SlideReport], None] = lambda report: None) -> None:
        if api is None and config is None:
            raise SlidepacsError("a virtual scanner needs a scanner API or a configuration")
        self.options = options
        self.api, self.config, self.tls = api, config, tls
        self.summary = Summary()
        self.state = "idle"
        self.clock_skew: float | None = None  # as the last heartbeat's answer said
        self.on_slide = on_slide  # called after each slide (any thread may set it)
        self._random = random.Random(options.seed)
        self._timing = Timing(options.speed, options.seed)
        self._racks = Racks(options.racks, options.slides_per_rack)
        self._sender: SlideSender | None = None
        self._events: EventSender | None = None
        self._lock = threading.Lock()
        self._numbered = 0  # slides taken from the racks so far
        first = options.first_image_id
        self._first_image_id = first if first is not None else (options.seed % 20000 + 1) * 100_000

    # -- running ------------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> Summary:
        """Scan until the racks are done, ``options.slides`` were scanned or ``stop`` is set."""
        started = time.monotonic()
        if self.api is not None:
            self.api.stop = stop
            self._pull_config()
        self._load_racks()
        self._events = self._event_sender()
        done = threading.Event()
        beats = threading.Thread(target=self._heartbeats, args=(stop, done), name="heartbeat",
                                 daemon=True)
        work = self.options.work_dir or Path(tempfile.mkdtemp(prefix="slidepacs-scanner-"))
        try:
            beats.start()
            self._event("info", "SCANNER_STARTED", "Scanner started")
            self._scan(stop, work)
            self._event("info", "SCANNER_STOPPED", "Scanner stopped")
        finally:
            self.state = "idle"
            done.set()
            beats.join(10)
            if self._events is not None:
                self._events.stop()
                self._count_events(self._events)
            if self.options.work_dir is None:
                shutil.rmtree(work, ignore_errors=True)
            self.summary.seconds = time.monotonic() - started
        return self.summary

    def _scan(self, stop: threading.Event, work: Path) -> None:
        self.state = "scanning"
        limit = self.options.slides
        while not stop.is_set() and (limit is None or self.summary.scanned < limit):
            slot = self._next_slot()
            if slot is None:
                break
            report = self._scan_slide(slot, self._numbered, stop, work)
            self._numbered += 1
            if report is not None:
                self.on_slide(report)

    def _next_slot(self) -> SlotRef | None:
        slot = self._racks.next_slide()
        if slot is None and self.options.continuous:
            for position in self._racks.finished():  # the operator swaps finished racks
                self._racks.unload(position)
                self._racks.load()
                self._event("info", "RACK_LOADED", f"Rack loaded at position {position}",
                            rack=position)
            slot = self._racks.next_slide()
        return slot

    def _load_racks(self) -> None:
        for _ in range(self._racks.positions):
            self._racks.load()
        rush = min(self.options.priority_racks, self._racks.positions)
        for position in range(self._racks.positions, self._racks.positions - rush, -1):
            self._racks.prioritise(position)  # the last racks put in jump the queue

    # -- one slide ----------------------------------------------------------------------------

    def _scan_slide(self, slot: SlotRef, number: int, stop: threading.Event,
                    work: Path) -> SlideReport | None:
        """Scan, QC, send, post: the slide's report, or None when it was abandoned."""
        began = time.monotonic()
        plan = self._plan(slot, number)
        slide = self._capture(plan, work) if plan.qc_passed else None
        if stop.wait(max(0.0, plan.timing.total - (time.monotonic() - began))):
            self.summary.abandoned += 1
            shutil.rmtree(work / plan.image_id, ignore_errors=True)
            return None
        self.summary.scanned += 1
        if slide is None:
            self.summary.qc_failed += 1
            self._event("error", "QC_FAILED", "Focus quality below threshold; slide not sent",
                        image_id=plan.image_id, rack=slot.rack, slot=slot.slot)
            return SlideReport(plan.image_id, slot, False, False, 0, 0, plan.label.barcode,
                               time.monotonic() - began)
        try:
            attempts = self._send(slide, stop)
        finally:
            shutil.rmtree(work / plan.image_id, ignore_errors=True)
        if attempts:
            self._post_metadata(slide, slot, plan)
            self._event("info", "SCAN_COMPLETED", f"Slide {plan.image_id} scanned and sent",
                        image_id=plan.image_id, rack=slot.rack, slot=slot.slot,
                        barcode=plan.label.barcode)
        return SlideReport(plan.image_id, slot, True, attempts > 0, attempts,
                           slide.file_size if attempts else 0, plan.label.barcode,
                           time.monotonic() - began)

    def _plan(self, slot: SlotRef, number: int) -> _Plan:
        """Draw the slide's times, QC outcome and incidents; announce it."""
        image_id = str(self._first_image_id + number)
        plan = _Plan(image_id, number, label_for(int(image_id) % 1_000_000),
                     self._timing.next_slide(),
                     qc_passed=self._random.random() >= self.options.qc_failure_rate,
                     incident=self._random.random() < self.options.incident_rate,
                     with_barcode=self._random.random() >= self.options.omit_barcode_rate,
                     scanned_at=datetime.now(timezone.utc))
        self._event("info", "SCAN_STARTED", f"Scanning slide {image_id}", image_id=image_id,
                    rack=slot.rack, slot=slot.slot, barcode=plan.label.barcode)
        if plan.incident:
            severity, code, message = self._random.choice(INCIDENTS)
            self._event(severity, code, message, image_id=image_id, rack=slot.rack,
                        slot=slot.slot)
        return plan

    def _capture(self, plan: _Plan, work: Path) -> ScannedSlide:
        """Write the slide's DICOM instances into ``work/<image ID>``."""
        folder = work / plan.image_id
        shutil.rmtree(folder, ignore_errors=True)
        return write_slide(folder, plan.image_id, plan.label,
                           seed=self.options.seed * 100_003 + plan.number,
                           sparse=self._config().sparse, size=self.options.slide_size,
                           barcode_in_header=plan.with_barcode, identity=self.options.identity,
                           scanned_at=plan.scanned_at.astimezone().replace(tzinfo=None))

    def _send(self, slide: ScannedSlide, stop: threading.Event) -> int:
        """Send the slide (retrying); the attempts it took, 0 when stopped before it was."""
        size = slide.file_size
        try:
            attempts = self._slide_sender().send(slide.files, stop)
        except SlideNotSent as exc:
            self.summary.not_sent += 1
            self.summary.retries += exc.attempts - 1
            self.summary.errors.append(f"slide {slide.image_id} not sent: {exc}")
            self._event("error", "SEND_FAILED", f"Slide {slide.image_id} not sent: {exc}",
                        image_id=slide.image_id)
            return 0
        self.summary.sent += 1
        self.summary.retries += attempts - 1
        self.summary.bytes_sent += size
        self.summary.image_ids.append(slide.image_id)
        if attempts > 1:
            self._event("warning", "SEND_RETRIED",
                        f"Slide {slide.image_id} sent after {attempts} attempts",
                        image_id=slide.image_id)
        return attempts

    def _post_metadata(self, slide: ScannedSlide, slot: SlotRef, plan: _Plan) -> None:
        if self.api is None:
            return
        read = {"barcode": slide.barcode, "symbology": slide.symbology.value} \
            if slide.barcode_in_header else {}  # else the scanner did not read the label
        body = {
            "image_id": slide.image_id, **read,
            "scanned_at": plan.scanned_at.isoformat(timespec="seconds").replace("+00:00", "Z"),
            "rack": slot.rack, "slot": slot.slot, "priority": slot.priority, "qc": "passed",
            "magnification": int(MAGNIFICATION), "mpp": SCANNER_MPP, "width": slide.width,
            "height": slide.height, "scan_seconds": round(plan.timing.scan * self.options.speed, 1),
            "file_size": slide.file_size,
        }
        try:
            answer = self.api.post_image(body)
            self.summary.metadata_posted += 1
            self.summary.metadata_joined += bool(answer.get("joined"))
        except SlidepacsError as exc:
            self.summary.errors.append(f"metadata of slide {slide.image_id} not posted: {exc}")

    # -- configuration, heartbeats, events ----------------------------------------------------

    def _config(self) -> ScannerConfig:
        with self._lock:
            assert self.config is not None  # pulled or given before scanning starts
            return self.config

    def _pull_config(self) -> None:
        """Pull the configuration (ETag: unchanged costs a 304) and apply a changed one."""
        assert self.api is not None
        config, changed = self.api.pull_config()
        self.summary.config_pulls += 1
        if changed:
            with self._lock:
                before, self.config = self.config, config
                self._sender = None  # rebuilt for the new destination
            log.info("configuration version %s pulled", config.version)
            if self._events is not None and before is not None and _events_moved(before, config):
                self._retarget_events()

    def _slide_sender(self) -> SlideSender:
        config = self._config()
        with self._lock:
            if self._sender is None:
                destination = Destination(config.host, config.port, config.called_ae,
                                          config.calling_ae)
                self._sender = SlideSender(destination, self.tls, self.options.send_timeout)
            return self._sender

    def _heartbeats(self, stop: threading.Event, done: threading.Event) -> None:
        if self.api is None:
            return
        identity = self.options.identity
        while not (stop.is_set() or done.is_set()):
            try:
                answer = self.api.heartbeat(self.state, identity.model, identity.serial,
                                            identity.software_version)
                self.summary.heartbeats += 1
                self.clock_skew = answer.get("clock_skew_seconds")
                self._pull_config()  # every beat: 304 while unchanged (the ETag covers more
                #                      than the version number)
            except SlidepacsError as exc:
                log.warning("heartbeat failed: %s", exc)
            done.wait(self._config().heartbeat_seconds)

    def _event_sender(self) -> EventSender | None:
        config = self._config()
        context: ssl.SSLContext | None = None
        if config.events_tls_port and self.tls is not None:
            port, context = config.events_tls_port, self.tls.context()
        elif config.events_port:
            port = config.events_port
        else:
            return None
        sender = EventSender(config.events_host, port, context)
        sender.start()
        return sender

    def _retarget_events(self) -> None:
        """The event receiver moved: send to the new one (what was queued is given 2 s)."""
        old, self._events = self._events, self._event_sender()
        if old is not None:
            old.stop()
            self._count_events(old)

    def _count_events(self, sender: EventSender) -> None:
        self.summary.events_sent += sender.sent
        self.summary.events_dropped += sender.dropped + sender.pending

    def _event(self, severity: str, code: str, message: str, **fields: object) -> None:
        if self._events is not None:
            self._events.send(event_line(self._config().scanner, severity, code, message,
                                         **fields))


def _events_moved(before: ScannerConfig, after: ScannerConfig) -> bool:
    return (before.events_host, before.events_port, before.events_tls_port) != (
        after.events_host, after.events_port, after.events_tls_port)
