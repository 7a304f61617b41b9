"""Sending a slide's DICOM instances to the slide receiver by C-STORE over TLS (SPEC §2).

The whole slide goes over one association, calling AE = the configuration's
``calling_title``, called AE = its ``title``. The slide counts as sent only when every
instance got a success or warning status; otherwise it is sent again, complete, after a
backoff (the archive stores an identical instance again idempotently), so no slide is lost.
"""

from __future__ import annotations

import logging
import ssl
import threading
from dataclasses import dataclass
from pathlib import Path

from pydicom.filereader import read_file_meta_info

from slidepacs.dimse.store_scu import StoreScu
from slidepacs.dimse.tls import client_context
from slidepacs.domain.aes import RemoteAE
from slidepacs.domain.forward_queue import ForwardJob
from slidepacs.errors import SlidepacsError
from slidepacs.simulator.backoff import Backoff

log = logging.getLogger(__name__)


class SlideNotSent(SlidepacsError):
    """A slide could not be stored completely (the message says why) in ``attempts``."""

    def __init__(self, message: str, attempts: int = 1) -> None:
        super().__init__(message)
        self.attempts = attempts


@dataclass(frozen=True, slots=True)
class Destination:
    """Where slides go: the slide receiver's address and AE titles."""

    host: str
    port: int
    called_ae: str
    calling_ae: str


@dataclass(frozen=True, slots=True)
class TlsClient:
    """The lab CA to trust and, when present, the client certificate to show."""

    ca: Path
    certificate: Path | None = None
    key: Path | None = None

    def context(self) -> ssl.SSLContext:
        """A TLS client context from these files."""
        present = self.certificate is not None and self.key is not None \
            and self.certificate.is_file() and self.key.is_file()
        return client_context(self.ca, self.certificate if present else None,
                              self.key if present else None)


def _jobs(files: tuple[Path, ...] | list[Path]) -> list[ForwardJob]:
    """Each file as a job StoreScu sends as it is."""
    jobs = []
    for number, path in enumerate(files):
        meta = read_file_meta_info(path)
        jobs.append(ForwardJob(number, "slide-receiver", str(meta.MediaStorageSOPInstanceUID),
                               str(meta.MediaStorageSOPClassUID), str(meta.TransferSyntaxUID),
                               path, path.stat().st_size, 0, ""))
    return jobs


class SlideSender:
    """C-STORE of whole slides to one destination, retried until complete."""

    def __init__(self, destination: Destination, tls: TlsClient | None, timeout: float = 30.0,
                 backoff: Backoff = Backoff()) -> None:
        self.destination = destination
        self.backoff = backoff
        context = (tls.context(), destination.host) if tls is not None else None
        self._scu = StoreScu(destination.calling_ae, timeout, context)
        self._peer = RemoteAE("slide-receiver", destination.called_ae, destination.host,
                              destination.port)

    def send_once(self, files: tuple[Path, ...] | list[Path]) -> None:
        """Store every file over one association; SlideNotSent unless all were stored."""
        jobs = _jobs(files)
        refused: list[str] = []
        failure = self._scu.send(self._peer, jobs,
                                 lambda job, outcome: refused.append(outcome) if outcome else None,
                                 threading.Event())
        if failure is None and len(refused) == 0:
            return
        raise SlideNotSent(failure or refused[0])

    def send(self, files: tuple[Path, ...] | list[Path], stop: threading.Event) -> int:
        """Send until the slide is stored completely; returns the attempts it took.
        SlideNotSent when ``stop`` is set before that."""
        attempt = 0
        while True:
            attempt += 1
            try:
                self.send_once(files)
                return attempt
            except SlideNotSent as exc:
                log.warning("slide not sent (attempt %d): %s", attempt, exc)
                if not self.backoff.wait(attempt, stop):
                    raise SlideNotSent(f"stopped after {attempt} attempts: {exc}",
                                       attempt) from None

    def abort(self) -> None:
        """Abort the association in flight (shutdown)."""
        self._scu.abort()
