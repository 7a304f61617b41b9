"""The one table that turns slidepacs errors into DIMSE status codes (PS3.4 / PS3.7 Annex C)."""

from __future__ import annotations

from pydicom.dataset import Dataset

from slidepacs.dicom.status_codes import store_failure_code
from slidepacs.errors import InvalidInput, NotFound, SlidepacsError

SUCCESS = 0x0000
PENDING = 0xFF00
CANCEL = 0xFE00
QUERY_IDENTIFIER_MISMATCH = 0xA900
QUERY_UNABLE_TO_PROCESS = 0xC000
MOVE_UNKNOWN_DESTINATION = 0xA801

_QUERY: list[tuple[type[SlidepacsError], int]] = [
    (InvalidInput, QUERY_IDENTIFIER_MISMATCH),
    (NotFound, MOVE_UNKNOWN_DESTINATION),
]


def store_status(error: BaseException) -> Dataset:
    """Status for a failed C-STORE; unexpected errors are transient (out of resources)."""
    return _status(store_failure_code(error), error)


def query_status(error: BaseException) -> Dataset:
    """Status for a failed C-FIND / C-GET / C-MOVE."""
    return _status(_lookup(_QUERY, error, QUERY_UNABLE_TO_PROCESS), error)


def _lookup(table: list[tuple[type[SlidepacsError], int]], error: BaseException, default: int) -> int:
    for kind, code in table:
        if isinstance(error, kind):
            return code
    return default


def _status(code: int, error: BaseException) -> Dataset:
    status = Dataset()
    status.Status = code
    status.ErrorComment = _comment(error)
    return status


def _comment(error: BaseException) -> str:
    """ErrorComment is LO: 64 characters of ASCII text."""
    text = str(error) if isinstance(error, SlidepacsError) else "internal error (see server log)"
    return text.encode("ascii", "replace").decode()[:64]
