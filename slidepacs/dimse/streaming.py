"""Send stored files by C-STORE straight from disk, also for C-GET and C-MOVE.

pynetdicom streams a file given by path (``STORE_SEND_CHUNKED_DATASET``), but its C-GET and
C-MOVE service classes only accept a ``Dataset`` from the handler — which would load a
multi-gigabyte slide into memory. A handler therefore yields a :class:`StoredFileReference`
(a ``Dataset`` carrying the path), and ``Association.send_c_store`` is wrapped once here to
hand pynetdicom the path instead.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom import _config
from pynetdicom.association import Association

_config.STORE_SEND_CHUNKED_DATASET = True
CONVERTIBLE_LIMIT = 256 * 1024 * 1024
UNCOMPRESSED = {ImplicitVRLittleEndian, ExplicitVRLittleEndian, ExplicitVRBigEndian}


class StoredFileReference(Dataset):
    """A placeholder dataset naming a stored file to send as it is."""

    def __init__(self, path: Path, sop_class_uid: str, sop_instance_uid: str) -> None:
        super().__init__()
        self.SOPClassUID = sop_class_uid
        self.SOPInstanceUID = sop_instance_uid
        object.__setattr__(self, "stored_path", path)


_send_c_store = Association.send_c_store


def _send_c_store_streamed(self: Association, dataset: Any, *args: Any, **kwargs: Any) -> Any:
    if not isinstance(dataset, StoredFileReference):
        return _send_c_store(self, dataset, *args, **kwargs)
    path = dataset.stored_path
    try:
        return _send_c_store(self, path, *args, **kwargs)
    except ValueError:
        # No context for the stored syntax. An uncompressed object of moderate size can be
        # re-encoded in another uncompressed syntax the peer accepted; anything else fails.
        if path.stat().st_size > CONVERTIBLE_LIMIT:
            raise
        decoded = dcmread(path)
        if decoded.file_meta.TransferSyntaxUID not in UNCOMPRESSED:
            raise
        return _send_c_store(self, decoded, *args, **kwargs)


if getattr(Association.send_c_store, "__name__", "") != "_send_c_store_streamed":
    Association.send_c_store = _send_c_store_streamed  # type: ignore[method-assign]
