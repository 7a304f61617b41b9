"""One short handler per DIMSE event; each translates, calls one service, translates back.

Every handler runs inside a guard: an exception becomes a failure status (logged with its
traceback), so one bad request never kills the association.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydicom.dataset import Dataset
from pynetdicom import build_context, evt

from slidepacs.dimse.identifiers import (
    PATIENT_ROOT,
    STUDY_ROOT,
    query_from_identifier,
    response_identifier,
)
from slidepacs.dimse.received import check_received
from slidepacs.dimse.status import (
    CANCEL,
    PENDING,
    SUCCESS,
    query_status,
    store_status,
)
from slidepacs.dimse.streaming import StoredFileReference
from slidepacs.errors import NotFound, SlidepacsError
from slidepacs.services.ae_registry import AERegistry
from slidepacs.services.ingest import IngestService
from slidepacs.services.query import QueryService
from slidepacs.services.retrieve import RetrieveService

log = logging.getLogger(__name__)

_MODELS = {
    "1.2.840.10008.5.1.4.1.2.1.1": PATIENT_ROOT,  # Patient Root FIND
    "1.2.840.10008.5.1.4.1.2.1.2": PATIENT_ROOT,  # Patient Root MOVE
    "1.2.840.10008.5.1.4.1.2.1.3": PATIENT_ROOT,  # Patient Root GET
    "1.2.840.10008.5.1.4.1.2.2.1": STUDY_ROOT,
    "1.2.840.10008.5.1.4.1.2.2.2": STUDY_ROOT,
    "1.2.840.10008.5.1.4.1.2.2.3": STUDY_ROOT,
}


@dataclass(frozen=True)
class DimseServices:
    """What the handlers may call."""

    ae_title: str
    ingest: IngestService
    query: QueryService
    retrieve: RetrieveService
    registry: AERegistry


class DimseHandlers:
    """pynetdicom event handlers bound to the services."""

    def __init__(self, services: DimseServices) -> None:
        self.services = services

    def bindings(self, storage_only: bool = False) -> list[tuple[Any, Any]]:
        """(event, handler) pairs for ``AE.start_server``."""
        handlers = [(evt.EVT_C_ECHO, self.on_echo), (evt.EVT_C_STORE, self.on_store)]
        if not storage_only:
            handlers += [(evt.EVT_C_FIND, self.on_find), (evt.EVT_C_GET, self.on_get),
                         (evt.EVT_C_MOVE, self.on_move)]
        return handlers

    def on_echo(self, event: Any) -> int:
        """C-ECHO: always success once the association was admitted."""
        return SUCCESS

    def on_store(self, event: Any) -> int | Dataset:
        """C-STORE (pynetdicom's path): see :meth:`store`."""
        return self.store(event.assoc, str(event.context.abstract_syntax), event.request,
                          event.request._dataset_file)

    def store(self, association: Any, context_sop_class: str, request: Any,
              received: Any) -> int | Dataset:
        """C-STORE: the received file (already on disk) goes through the ingest service.
        ``request`` has the request's Affected SOP Class/Instance UIDs (pynetdicom's
        primitive, or dimse.store_receiver's own)."""
        calling = str(association.requestor.ae_title).strip()
        try:
            received.close()  # complete and written: the store may now move it
            self.services.registry.register_on_first_store(calling, association.requestor.address)
            expected = check_received(request, context_sop_class, received)
            self.services.ingest.ingest_received(Path(received.name), source=f"dicom:{calling}",
                                                 checksum=getattr(received, "checksum", None),
                                                 durable=getattr(received, "wait_durable", None),
                                                 expected=expected, sender=calling,
                                                 content=_held(received))
        except SlidepacsError as exc:
            log.warning("C-STORE from %s refused: %s", calling, exc)
            return store_status(exc)
        except Exception as exc:
            log.exception("C-STORE from %s failed", calling)
            return store_status(exc)
        finally:
            release = getattr(received, "release", None)
            if release is not None:
                release()
        return SUCCESS

    def on_find(self, event: Any) -> Iterator[tuple[int | Dataset, Dataset | None]]:
        """C-FIND: matches come from the index, never from image files."""
        try:
            query = query_from_identifier(event.identifier, _model(event))
            matches = self.services.query.find(query)
        except Exception as exc:
            _log_failure("C-FIND", event, exc)
            yield query_status(exc), None
            return
        for match in matches:
            if event.is_cancelled:
                yield CANCEL, None
                return
            yield PENDING, response_identifier(
                match, event.identifier, query.level, self.services.ae_title
            )

    def on_get(self, event: Any) -> Iterator[Any]:
        """C-GET: send the matching instances back on the same association."""
        try:
            items = self.services.retrieve.items(
                query_from_identifier(event.identifier, _model(event))
            )
        except Exception as exc:
            _log_failure("C-GET", event, exc)
            yield query_status(exc), None
            return
        yield len(items)
        for item in items:
            if event.is_cancelled:
                yield CANCEL, None
                return
            yield PENDING, StoredFileReference(item.path, item.sop_class_uid, item.sop_instance_uid)

    def on_move(self, event: Any) -> Iterator[Any]:
        """C-MOVE: send the matching instances to a registered destination AE."""
        try:
            destination = self.services.registry.get(event.move_destination.strip())
        except NotFound:
            log.warning("C-MOVE to unknown destination %r", event.move_destination)
            yield None, None
            return
        try:
            items = self.services.retrieve.items(
                query_from_identifier(event.identifier, _model(event))
            )
        except Exception as exc:
            _log_failure("C-MOVE", event, exc)
            yield destination.host, destination.port
            yield query_status(exc), None
            return
        contexts = storage_contexts({(i.sop_class_uid, i.transfer_syntax_uid) for i in items})
        yield destination.host, destination.port, {"ae_title": destination.ae_title,
                                                   "contexts": contexts}
        yield len(items)
        for item in items:
            if event.is_cancelled:
                yield CANCEL, None
                return
            yield PENDING, StoredFileReference(item.path, item.sop_class_uid, item.sop_instance_uid)


def storage_contexts(pairs: set[tuple[str, str]]) -> list[Any]:
    """Presentation contexts to send stored objects as they are: one per SOP class and
    stored transfer syntax (at most 128, the protocol's limit)."""
    return [build_context(sop_class, [syntax]) for sop_class, syntax in sorted(pairs)][:128]


def _held(received: Any) -> memoryview | None:
    """The received data set's bytes, if its file holds them in memory."""
    held = getattr(received, "held", None)
    return None if held is None else held()


def _calling(event: Any) -> str:
    return str(event.assoc.requestor.ae_title).strip()


def _model(event: Any) -> str:
    return _MODELS.get(str(event.context.abstract_syntax), STUDY_ROOT)


def _log_failure(what: str, event: Any, exc: Exception) -> None:
    if isinstance(exc, SlidepacsError):
        log.warning("%s from %s refused: %s", what, _calling(event), exc)
    else:
        log.exception("%s from %s failed", what, _calling(event))
