"""slidepacs' own receive path for C-STORE, run by an association's DUL thread (dimse.dul).

For each C-STORE, pynetdicom builds PDU and primitive objects per P-DATA-TF, runs its state
machine, decodes the command set with pydicom, queues the message to the association's
thread, dispatches it through its service class and events, encodes the response with
pydicom and queues it back to the DUL thread — about half the CPU an archive spends on a
small instance. For a plain C-STORE-RQ the DUL thread instead parses the command set itself
(dimse.commands), writes the data-set fragments straight into the received file, calls the
store handler and sends the pre-encoded response. Every other message, and any C-STORE-RQ
that is not plain (fragmented command set, unknown elements, a context or SOP class
pynetdicom would treat specially), is left to pynetdicom exactly as before.

While a data set arrives, a P-DATA-TF that pynetdicom would refuse (malformed items, a
command fragment inside the data set) aborts the association as pynetdicom does (Evt19).
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydicom.dataset import Dataset
from pynetdicom import _config
from pynetdicom.pdu_primitives import P_DATA
from pynetdicom.service_class import StorageServiceClass
from pynetdicom.sop_class import uid_to_service_class

from slidepacs.dimse.commands import (
    COMMAND,
    LAST,
    Fragment,
    StoreRequest,
    file_meta,
    fragments,
    parse_store_request,
    store_response_pdu,
)
from slidepacs.storage.received_file import ReceivedFile

LOGGER = logging.getLogger(__name__)
HANDLER_FAILED = 0xC211  # what pynetdicom answers when a C-STORE handler raises
INVALID_PDU = "Evt19"    # pynetdicom's state machine event: abort the association

# (association, context's abstract syntax, request, received file) -> status
StoreHandler = Callable[[Any, str, StoreRequest, ReceivedFile], "int | Dataset"]


class StoreReceiver:
    """Receives plain C-STOREs of one association (used by its DUL thread only)."""

    def __init__(self, dul: Any, handler: StoreHandler, incoming_path: Callable[[], Path]) -> None:
        self._dul = dul
        self._handler = handler
        self._incoming_path = incoming_path
        self._request: StoreRequest | None = None
        self._transfer: tuple[Any, ReceivedFile] | None = None  # (context, file)

    @property
    def receiving(self) -> bool:
        """A data set is being received."""
        return self._transfer is not None

    def take(self, body: memoryview) -> bool:
        """Handle one P-DATA-TF body (the PDU after its 6-byte header). False: it is not
        for this path and nothing of it was used (pynetdicom gets it)."""
        if self._transfer is None:
            return self._begin(body)
        items = fragments(body)
        if items is None:
            self._refuse("a malformed P-DATA-TF")
        else:
            self._receive(items)
        return True

    def discard(self) -> None:
        """Remove the file of a data set whose receipt was cut off (association ended)."""
        transfer, self._transfer = self._transfer, None
        self._request = None
        if transfer is not None:
            _remove(transfer[1])

    def _begin(self, body: memoryview) -> bool:
        if not self._idle():
            return False
        items = fragments(body)
        if not items or items[0][1] & (COMMAND | LAST) != COMMAND | LAST:
            return False
        context_id, _control, command = items[0]
        request = parse_store_request(context_id, command)
        context = self._context(request) if request is not None else None
        if request is None or context is None:
            return False
        received = ReceivedFile(self._incoming_path())
        received.write(file_meta(request.AffectedSOPClassUID, request.AffectedSOPInstanceUID,
                                 context.transfer_syntax[0]))
        self._request, self._transfer = request, (context, received)
        self._receive(items[1:])
        return True

    def _idle(self) -> bool:
        """Between messages, with nothing of pynetdicom's in flight on this association."""
        dul = self._dul
        assoc = dul.assoc
        return (dul.state_machine.current_state == "Sta6" and assoc.dimse.message is None
                and not getattr(assoc, "serving", False) and assoc.dimse.msg_queue.empty()
                and dul.to_provider_queue.empty() and assoc.is_established
                and not assoc._sent_release)

    def _context(self, request: StoreRequest) -> Any:
        """The accepted presentation context, if pynetdicom would serve this request on it
        with its Storage service class (no common extended negotiation); else None."""
        assoc = self._dul.assoc
        context = assoc._accepted_cx.get(request.context_id)
        sop_class = request.AffectedSOPClassUID
        if (context is None or _config.UNRESTRICTED_STORAGE_SERVICE
                or not _is_storage(sop_class) or sop_class in assoc.acceptor.accepted_common_extended):
            return None
        return context

    def _receive(self, items: list[Fragment]) -> None:
        """Write data-set fragments; on the last one, store and answer."""
        assert self._transfer is not None
        received = self._transfer[1]
        for index, (_context_id, control, value) in enumerate(items):
            if control & COMMAND:
                self._refuse("a command fragment inside a data set")
                return
            received.write(value)
            if control & LAST:
                self._complete()
                rest = items[index + 1:]
                if rest:  # the next message began in the same PDU: pynetdicom's
                    self._dul.assoc.dimse.receive_primitive(_primitive(rest))
                return

    def _complete(self) -> None:
        request, (context, received) = self._request, self._transfer  # type: ignore[misc]
        self._request = self._transfer = None
        assert request is not None
        dul = self._dul
        dul._idle_timer.stop()  # the peer waits for the response; not idle
        try:
            status = self._handler(dul.assoc, str(context.abstract_syntax), request, received)
        except Exception:
            LOGGER.exception("Exception in the C-STORE handler")
            status = HANDLER_FAILED
        finally:
            _remove(received)
            dul._idle_timer.restart()
        self._respond(request, status)

    def _respond(self, request: StoreRequest, status: int | Dataset) -> None:
        dul = self._dul
        if not dul.assoc.is_established or dul.socket is None:
            return  # aborted while storing: nobody to answer (as pynetdicom)
        if isinstance(status, Dataset):
            code, comment = int(status.Status), status.get("ErrorComment")
        else:
            code, comment = int(status), None
        dul.socket.send(store_response_pdu(request, code, comment,
                                           dul.assoc.dimse.maximum_pdu_size))

    def _refuse(self, what: str) -> None:
        LOGGER.error("Received %s from %s, aborting the association", what,
                     self._dul.assoc.requestor.address)
        self.discard()
        self._dul.event_queue.put(INVALID_PDU)


@functools.cache
def _is_storage(sop_class_uid: str) -> bool:
    return uid_to_service_class(sop_class_uid) is StorageServiceClass


def _primitive(items: list[Fragment]) -> P_DATA:
    primitive = P_DATA()
    primitive.presentation_data_value_list = [
        (context_id, bytes([control]) + bytes(value)) for context_id, control, value in items
    ]
    return primitive


def _remove(received: ReceivedFile) -> None:
    """Close and delete a received file (gone already once the store took it over)."""
    received.close()
    received.release()
    try:
        os.unlink(received.name)
    except FileNotFoundError:
        pass
    except OSError as exc:
        LOGGER.warning("cannot remove %s: %s", received.name, exc)
