"""The "Image output format" of a sender (SPEC §4): every slide is archived as DICOM WSI;
for a sender whose output format is SVS, the slide is also written as an SVS file, named by
the sender's file-name template, in its file location — once the slide's instances have
stopped arriving for :attr:`SlideOutputs.settle_seconds`.

Tiles are copied, not re-encoded. The file appears atomically (written under a temporary
name, fsynced, renamed). A slide waiting for its SVS copy is also noted durably, as one small
file per slide in the queue folder, before its first instance is acknowledged; at start the
noted slides are written, so a crash or a stop loses no SVS copy.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from slidepacs.dicom.header import WSI_SOP_CLASS, read_header
from slidepacs.domain.events import InstanceStored
from slidepacs.errors import SlidepacsError, StorageFailure
from slidepacs.services.image_rules import ImageRulesService
from slidepacs.services.slide_gate import SlideGate, image_id
from slidepacs.storage import write_atomically

log = logging.getLogger(__name__)
SVS_OUTPUT_QUEUE = ".svs-outputs"  # in the data path: one note per slide waiting for its SVS


@dataclass(slots=True)
class _Pending:
    sender: str
    path: Path          # one stored instance of the slide
    due: float          # monotonic time after which the slide counts as complete


class SlideOutputs:
    """Writes SVS copies of the slides of senders whose output format is SVS."""

    def __init__(self, rules: ImageRulesService, gate: SlideGate, charset: str,
                 queue_folder: Path, settle_seconds: float = 5.0) -> None:
        self._rules = rules
        self._gate = gate
        self._charset = charset
        self._queue = queue_folder
        self.settle_seconds = settle_seconds
        self._pending: dict[str, _Pending] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def on_instance_stored(self, event: InstanceStored) -> None:
        """Note a stored whole-slide instance of a sender that wants SVS: in memory, and
        durably for the slide's first instance (one small file)."""
        if event.sop_class_uid != WSI_SOP_CLASS or not event.sender:
            return
        if self._rules.output_of(event.sender)[0] != "svs":
            return
        uid = event.series_instance_uid
        with self._lock:
            known = uid in self._pending
            self._pending[uid] = _Pending(event.sender, event.path,
                                          time.monotonic() + self.settle_seconds)
        if not known:
            self._note(uid, event.sender, event.path)

    def resume(self) -> int:
        """Take up the slides noted by an earlier run whose SVS copy was not written yet;
        how many."""
        due = time.monotonic() + self.settle_seconds
        resumed = 0
        for marker in sorted(self._queue.glob("*.json")) if self._queue.is_dir() else []:
            try:
                noted = json.loads(marker.read_text(encoding="utf-8"))
                pending = _Pending(str(noted["sender"]), Path(noted["path"]), due)
            except (OSError, ValueError, KeyError, TypeError) as exc:
                log.error("unreadable SVS output note %s left in place: %s", marker, exc)
                continue
            with self._lock:
                self._pending.setdefault(marker.stem, pending)
            resumed += 1
        if resumed:
            log.info("%d slide(s) still wait for their SVS copy: written shortly", resumed)
        return resumed

    def start(self) -> None:
        """Write due slides (noted ones first) in a background thread until :meth:`stop`."""
        self.resume()
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
                continue  # its note stays: tried again at the next start
            (self._queue / f"{uid}.json").unlink(missing_ok=True)
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

    def _note(self, uid: str, sender: str, path: Path) -> None:
        """Record durably that slide ``uid`` waits for its SVS copy."""
        def write(temporary: Path) -> None:
            temporary.write_text(json.dumps({"sender": sender, "path": str(path)}),
                                 encoding="utf-8")

        try:
            self._queue.mkdir(parents=True, exist_ok=True)
            write_atomically(self._queue / f"{uid}.json", write)
        except (OSError, SlidepacsError) as exc:
            raise StorageFailure(f"cannot note slide {uid} for its SVS copy ({exc})") from exc
