"""Where received C-STORE data sets are written while they arrive.

pynetdicom writes each incoming data set to a ``NamedTemporaryFile`` in the system's
temporary folder (``STORE_RECV_CHUNKED_DATASET``), and the store then copies it into the
archive. An AE that has an ``incoming_path`` callable (slidepacs' listeners) instead gets a
:class:`~slidepacs.storage.received_file.ReceivedFile` at that path, inside the first storage
location, hashed as the bytes arrive: the store can then take the file over by renaming it,
with no second copy and no second read. Every other AE in the process keeps pynetdicom's
behaviour.

pynetdicom only lets this be chosen where it creates the file, so its module-level
``NamedTemporaryFile`` is replaced once, by a function that looks at the association of the
thread that receives (pynetdicom's DUL thread).
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

from pynetdicom import dimse_messages

from slidepacs.storage.received_file import ReceivedFile

log = logging.getLogger(__name__)


_named_temporary_file = dimse_messages.NamedTemporaryFile


def _received_file(*args: Any, **kwargs: Any) -> Any:
    """The file pynetdicom writes a C-STORE data set to (see the module docstring)."""
    association = getattr(threading.current_thread(), "assoc", None)
    incoming_path = getattr(getattr(association, "ae", None), "incoming_path", None)
    if incoming_path is None:
        return _named_temporary_file(*args, **kwargs)
    return ReceivedFile(incoming_path())


def discard_unhandled_datasets(association: Any) -> None:
    """Remove the files of data sets no handler will see: one whose receipt was cut off,
    and complete ones still queued when the association ended. (pynetdicom removes a file
    after its handler returns, and never the others.)"""
    receiver = getattr(getattr(association, "dul", None), "store_receiver", None)
    if receiver is not None:
        receiver.discard()
    dimse = getattr(association, "dimse", None)
    files = [getattr(getattr(dimse, "message", None), "_data_set_file", None)]
    queue = getattr(dimse, "msg_queue", None)
    while queue is not None and not queue.empty():
        _context, primitive = queue.get_nowait()
        files.append(getattr(primitive, "_dataset_file", None))
    for received in files:
        if received is not None:
            _remove(received)


def _remove(received: Any) -> None:
    try:
        received.close()
    except OSError:
        pass
    if isinstance(received, ReceivedFile):
        received.release()
    try:
        os.unlink(received.name)
        log.info("removed a data set received but not stored (%s)", received.name)
    except FileNotFoundError:
        pass
    except OSError as exc:
        log.warning("cannot remove %s: %s", received.name, exc)


if dimse_messages.NamedTemporaryFile is not _received_file:
    dimse_messages.NamedTemporaryFile = _received_file  # type: ignore[assignment]
