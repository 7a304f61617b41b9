"""Why a store failed, as the one DICOM code C-STORE statuses and STOW-RS Failure Reasons
share (PS3.4 Annex B.2.3, PS3.18 §10.5.3)."""

from __future__ import annotations

from slidepacs.errors import (
    Conflict,
    IndexFailure,
    InvalidInput,
    Mismatch,
    SlidepacsError,
    StorageFailure,
    Unsupported,
)

STORE_OUT_OF_RESOURCES = 0xA700
STORE_CANNOT_UNDERSTAND = 0xC000
STORE_DATA_SET_MISMATCH = 0xA900  # "Data Set does not match SOP Class"

_STORE: list[tuple[type[SlidepacsError], int]] = [
    (StorageFailure, STORE_OUT_OF_RESOURCES),
    (IndexFailure, STORE_OUT_OF_RESOURCES),
    (Conflict, 0xC001),
    (Mismatch, STORE_DATA_SET_MISMATCH),
    (InvalidInput, STORE_CANNOT_UNDERSTAND),
    (Unsupported, 0xC002),
]


def store_failure_code(error: BaseException) -> int:
    """The code for a failed store; unexpected errors are transient (out of resources)."""
    for kind, code in _STORE:
        if isinstance(error, kind):
            return code
    return STORE_OUT_OF_RESOURCES + 1
