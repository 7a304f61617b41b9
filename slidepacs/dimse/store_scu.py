"""The C-STORE SCU of forwarding: a batch of stored files to one peer over one association.

Files are sent as stored, streamed from disk by pynetdicom (see ``dimse.streaming``); one
presentation context is proposed per SOP class and stored transfer syntax, plus Implicit VR
Little Endian for uncompressed objects (which every storage SCP accepts).
"""

from __future__ import annotations

import logging
import socket
import ssl
import threading
from collections.abc import Callable, Sequence
from typing import Any

from pydicom.dataset import Dataset
from pydicom.uid import ImplicitVRLittleEndian
from pynetdicom import AE, build_context, evt
from pynetdicom.association import Association

from slidepacs.dimse.streaming import UNCOMPRESSED, StoredFileReference
from slidepacs.domain.aes import RemoteAE
from slidepacs.domain.forward_queue import ForwardJob

log = logging.getLogger(__name__)
MAX_CONTEXTS = 128
WARNINGS = {0xB000, 0xB006, 0xB007}  # coercion, elements discarded, SOP class mismatch: stored
Report = Callable[[ForwardJob, "str | None"], None]


class StoreScu:
    """Sends claimed forwarding jobs by C-STORE; implements the worker's ``Sender``."""

    def __init__(self, local_ae_title: str, timeout: float,
                 tls: tuple[ssl.SSLContext, str] | None = None) -> None:
        """``tls``: a client context and the server name to check, for DICOM over TLS."""
        self._ae_title = local_ae_title
        self._timeout = timeout
        self._tls = tls
        self._active: set[Association] = set()
        self._lock = threading.Lock()

    def send(
        self, destination: RemoteAE, jobs: Sequence[ForwardJob], report: Report,
        cancelled: threading.Event,
    ) -> str | None:
        """Send ``jobs`` in order over one association, reporting each one's outcome.

        Returns why the association failed (refused, rejected, aborted) — the jobs not
        reported then count as failed — or None; after ``cancelled`` is set, the jobs not yet
        reported were not attempted.
        """
        seen: dict[str, Any] = {}
        association = self._associate(destination, jobs, seen)
        try:
            if not association.is_established:
                return _association_failure(destination, association, seen)
            for job in jobs:
                if cancelled.is_set():
                    return None
                outcome = _store(association, job, destination)
                if not association.is_established:
                    return None if cancelled.is_set() else (
                        f"association with {_where(destination)} ended while sending "
                        f"{job.sop_instance_uid} ({outcome or 'no response'})")
                report(job, outcome)
            return None
        finally:
            with self._lock:
                self._active.discard(association)
            if association.is_established:
                association.release()

    def abort(self) -> None:
        """Abort every association in flight, also those still negotiating (shutdown)."""
        with self._lock:
            active = list(self._active)
        for association in active:
            if association.is_established:
                association.abort()
                continue
            transport = getattr(association.dul.socket, "socket", None)
            try:  # waiting for the peer's answer: closing the socket ends the wait at once
                if transport is not None:
                    transport.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _opened(self, event: Any, seen: dict[str, Any]) -> None:
        seen["connected"] = True
        with self._lock:
            self._active.add(event.assoc)

    def _associate(
        self, destination: RemoteAE, jobs: Sequence[ForwardJob], seen: dict[str, Any]
    ) -> Association:
        ae = AE(self._ae_title)
        ae.connection_timeout = ae.acse_timeout = self._timeout
        ae.dimse_timeout = ae.network_timeout = self._timeout
        handlers: list[Any] = [(evt.EVT_CONN_OPEN, lambda event: self._opened(event, seen)),
                    (evt.EVT_ACSE_RECV, lambda event: seen.setdefault("response", event.primitive))]
        return ae.associate(destination.host, destination.port, ae_title=destination.ae_title,
                            contexts=_contexts(jobs), evt_handlers=handlers,
                            tls_args=self._tls)


def _contexts(jobs: Sequence[ForwardJob]) -> list[Any]:
    pairs = {(job.sop_class_uid, job.transfer_syntax_uid) for job in jobs}
    pairs |= {(sop_class, ImplicitVRLittleEndian) for sop_class, syntax in pairs
              if syntax in UNCOMPRESSED}
    return [build_context(sop_class, [syntax]) for sop_class, syntax in sorted(pairs)][
        :MAX_CONTEXTS]


def _store(association: Association, job: ForwardJob, destination: RemoteAE) -> str | None:
    """Send one file; None when the peer stored it, else why not."""
    reference = StoredFileReference(job.path, job.sop_class_uid, job.sop_instance_uid)
    try:
        status: Dataset = association.send_c_store(reference)
    except ValueError as exc:
        return f"not sent: {exc}"
    except (OSError, AttributeError) as exc:
        return f"cannot read the stored file ({exc})"
    except RuntimeError as exc:  # the association ended before the request could be sent
        return str(exc)
    code = status.get("Status") if status is not None else None
    if code is None:
        return "no response"
    if code == 0 or code in WARNINGS:
        if code:
            log.warning("%s stored %s with warning status 0x%04X", destination.ae_title,
                        job.sop_instance_uid, code)
        return None
    comment = status.get("ErrorComment", "")
    return f"{destination.ae_title} answered status 0x{code:04X}" + (f" ({comment})" if comment
                                                                     else "")


def _association_failure(
    destination: RemoteAE, association: Association, seen: dict[str, Any]
) -> str:
    where = _where(destination)
    response = seen.get("response")
    if association.is_rejected and response is not None:
        return (f"association rejected by {where}: {getattr(response, 'reason_str', '')} "
                f"({getattr(response, 'result_str', '')})")
    if association.is_aborted and getattr(response, "result", None) == 0:
        return f"{where} accepted none of the proposed SOP classes / transfer syntaxes"
    if association.is_aborted and response is not None:
        return f"association aborted by {where}"
    if seen.get("connected"):
        return f"no association with {where} (no answer or aborted)"
    return f"cannot connect to {where} (refused, unreachable or no answer)"


def _where(destination: RemoteAE) -> str:
    return f"{destination.ae_title} at {destination.host}:{destination.port}"
