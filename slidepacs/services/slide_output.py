"""The "Image output format" of a sender (SPEC §4): every slide is archived as DICOM WSI;
for a sender whose output format is SVS, the slide is also written as an SVS file, named by
the sender's file-name template, in its file location — once the slide's instances have
stopped arriving for :attr:`SlideOutputs.settle_seconds`.

Tiles are copied, not re-encoded. The file appears atomically (written under a temporary
name, fsynced, renamed). Pending slides live in memory and are written at a normal stop; after
a crash the DICOM series is safe in the archive, its SVS copy is not written.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from slidepacs.dicom.header import WSI_SOP_CLASS, read_header
from slidepacs.domain.events import InstanceStored
from slidepacs.errors import SlidepacsError
from slidepacs.services.image_rules import ImageRulesService
from slidepacs.services.slide_gate import SlideGate, image_id
from slidepacs.storage import write_atomically

log = logging.getLogger(__name__)


@dataclass(slots=True)
class _Pending:
    sender: str
    path: Path          # one stored instance of the slide
    due: float          # monotonic time after which the slide counts as complete


class SlideOutputs:
    """Writes SVS copies of the slides of senders whose output format is SVS."""

    def __init__(self, rules: ImageRulesService, gate: SlideGate, charset: str,
                 settle_seconds: float = 5.0) -> None:
        self._rules = rules
        self._gate = gate
        self._charset = charset
        self.settle_seconds = settle_seconds
        self._pending: dict[str, _Pending] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def on_instance_stored(self, event: InstanceStored) -> None:
        """Note a stored whole-slide instance of a sender that wants SVS (cheap: no I/O)."""
        if event.sop_class_uid != WSI_SOP_CLASS or not event.sender:
            return
        if self._rules.output_of(event.sender)[0] != "svs":
            return
        with self._lock:
            self._pending[event.series_instance_uid] = _Pending(
                event.sender, event.path, time.monotonic() + self.settle_seconds)

    def start(self) -> None:
        """Write due slides in a background thread until :meth:`stop`."""
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="slide output", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Write the slides still pending, then stop."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self.write_due(force=True)

    def write_due(self, force: bool = False) -> list[Path]:
        """Write every slide that has settled (all pending ones with ``force``)."""
        now = time.monotonic()
        with self._lock:
            due = {uid: p for uid, p in self._pending.items() if force or p.due <= now}
            for uid in due:
                del self._pending[uid]
        written = []
        for uid, pending in due.items():
            try:
                written.append(self.write_svs(pending.path, pending.sender))
            except (SlidepacsError, OSError) as exc:
                log.error("SVS of slide %s from %s not written: %s", uid, pending.sender, exc)
        return written

    def write_svs(self, instance: Path, sender: str) -> Path:
        """Write the slide that ``instance`` belongs to as SVS in the sender's file location,
        named by its rules; returns the file. StorageFailure if it cannot be written."""
        from slidepacs.wsi.convert import open_slide  # tifffile/imagecodecs: only here
        from slidepacs.wsi.svs_writer import write_svs

        header = read_header(instance, self._charset).header
        decision = self._rules.apply(sender, self._gate.values(header, instance))
        folder = Path(self._rules.output_of(sender)[1])
        target = folder / f"{decision.file_name or image_id(header)}.svs"

        def write(temporary: Path) -> None:
            with open_slide(instance) as slide:
                write_svs(slide, temporary)

        write_atomically(target, write)
        log.info("slide %s from %s written as %s", header.series.series_instance_uid, sender,
                 target)
        return target

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            self.write_due()

