"""Checks on a received C-STORE data set before it is ingested: it was written whole, and its
request is of the SOP class of the presentation context it came on (otherwise PS3.4 B.2.3
answers "Data Set does not match SOP Class"). That the data set is the object its request
names is checked by the ingest service while it reads the header (see :func:`expected`)."""

from __future__ import annotations

from typing import Any

from slidepacs.domain.records import SopReference
from slidepacs.errors import Mismatch, StorageFailure


def check_received(request: Any, context_sop_class: str, received: Any) -> SopReference:
    """Raise StorageFailure if the data set could not be written (``received`` says why);
    Mismatch if the request's Affected SOP Class UID is not the presentation context's.
    Returns what the request says the data set is."""
    failure: OSError | None = getattr(received, "failure", None)
    if failure is not None:
        raise StorageFailure(f"cannot receive the data set ({failure.strerror or failure})")
    expected = SopReference(_text(request.AffectedSOPClassUID),
                            _text(request.AffectedSOPInstanceUID))
    if expected.sop_class_uid != _text(context_sop_class):
        raise Mismatch(f"request's SOP Class UID is not its presentation context's: "
                       f"{expected.sop_class_uid!r}, context {_text(context_sop_class)!r}")
    return expected


def _text(uid: object) -> str:
    return str(uid or "").strip(" \x00")
