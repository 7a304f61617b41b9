"""The "Image output format" and "File location" of a sender (SPEC §4): every slide is
archived as DICOM WSI; when the sender has a file location, the slide is also written there,
named by the sender's file-name template, once its instances have stopped arriving for
:attr:`SlideOutputs.settle_seconds`:

- output format **SVS**: one SVS file ``<location>/<name>.svs`` (tiles copied, not
  re-encoded);
- output format **DICOM**: the slide's DICOM files as received, in a folder
  ``<location>/<name>/`` as ``<name>-<n>.dcm`` (n = 1, 2, … in the series' instance order),
  as the scanner documents' DICOM converter writes them to the image file share.

Each file appears atomically (written under a temporary name, fsynced, renamed); a slide sent
again replaces its files. A slide waiting for its SVS copy is also noted durably, as one small
file per slide in the queue folder, before its first instance is acknowledged; at start the
noted slides are written, so a crash or a stop loses no SVS copy.
"""

from __future__ import annotations

import json
import logging
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from slidepacs.dicom.header import WSI_SOP_CLASS, read_header
from slidepacs.domain.events import InstanceStored
from slidepacs.domain.records import InstanceHeader
from slidepacs.errors import SlidepacsError, StorageFailure
from slidepacs.services.image_rules import ImageRulesService
from slidepacs.services.retrieve import RetrieveService
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
    """Writes the slides of senders with a file location there (SVS or DICOM files)."""

    def __init__(self, rules: ImageRulesService, gate: SlideGate, charset: str,
                 queue_folder: Path, settle_seconds: float = 5.0,
                 retrieve: RetrieveService | None = None) -> None:
        """``retrieve`` finds a slide's stored instances for DICOM output (without it, only
        SVS output is written)."""
        self._rules = rules
        self._retrieve = retrieve
        self._gate = gate
        self._charset = charset
        self._queue = queue_folder
        self.settle_seconds = settle_seconds
        self._pending: dict[str, _Pending] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def on_instance_stored(self, event: InstanceStored) -> None:
        """Note a stored whole-slide instance of a sender with a file location: in memory,
        and durably for the slide's first instance (one small file)."""
        if event.sop_class_uid != WSI_SOP_CLASS or not event.sender:
            return
        output_format, location = self._rules.output_of(event.sender)
        if not location or (output_format != "svs" and self._retrieve is None):
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
                written += self.write_output(pending.path, pending.sender)
            except (SlidepacsError, OSError) as exc:
                log.error("output of slide %s from %s not written: %s", uid, pending.sender,
                          exc)
                continue  # its note stays: tried again at the next start
            (self._queue / f"{uid}.json").unlink(missing_ok=True)
        return written

    def write_output(self, instance: Path, sender: str) -> list[Path]:
        """Write the slide that ``instance`` belongs to in the sender's output format and
        file location; the files written (none when the sender has no location)."""
        output_format, location = self._rules.output_of(sender)
        if not location:
            return []
        if output_format == "svs":
            return [self.write_svs(instance, sender)]
        return self.write_dicom(instance, sender, Path(location))

    def write_dicom(self, instance: Path, sender: str, location: Path) -> list[Path]:
        """Copy the stored DICOM files of the slide that ``instance`` belongs to into
        ``<location>/<name>/`` as ``<name>-<n>.dcm``; the files written."""
        if self._retrieve is None:
            return []
        header = read_header(instance, self._charset).header
        name = self._name(header, instance, sender)
        folder = location / name
        items = self._retrieve.instances(header.study.study_instance_uid,
                                         header.series.series_instance_uid)
        written = [write_atomically(folder / f"{name}-{number}.dcm",
                                    lambda temporary, item=item: shutil.copyfile(item.path,
                                                                                 temporary))
                   for number, item in enumerate(items, start=1)]
        log.info("slide %s from %s written as %d DICOM file(s) in %s",
                 header.series.series_instance_uid, sender, len(written), folder)
        return written

    def _name(self, header: InstanceHeader, instance: Path, sender: str) -> str:
        decision = self._rules.apply(sender, self._gate.values(header, instance))
        return decision.file_name or image_id(header)

    def write_svs(self, instance: Path, sender: str) -> Path:
        """Write the slide that ``instance`` belongs to as SVS in the sender's file location,
        named by its rules; returns the file. StorageFailure if it cannot be written."""
        from slidepacs.wsi.convert import open_slide  # tifffile/imagecodecs: only here
        from slidepacs.wsi.svs_writer import write_svs

        header = read_header(instance, self._charset).header
        folder = Path(self._rules.output_of(sender)[1])
        target = folder / f"{self._name(header, instance, sender)}.svs"

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
