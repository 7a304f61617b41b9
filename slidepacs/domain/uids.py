"""DICOM UID rules (PS3.5 §9.1): digits and dots, no empty or leading-zero components."""

from __future__ import annotations

import re

from slidepacs.errors import InvalidInput

_UID = re.compile(r"^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$")
_LENIENT_UID = re.compile(r"^[0-9]+(\.[0-9]+)*$")
MAX_UID_LENGTH = 64


def is_valid_uid(value: str) -> bool:
    """True when ``value`` follows the strict DICOM UID grammar."""
    return len(value) <= MAX_UID_LENGTH and bool(_UID.match(value))


def checked_uid(keyword: str, value: str) -> str:
    """Return ``value`` when it can name a stored object, else raise InvalidInput.

    Components with leading zeros are accepted (many devices send them); anything else that
    is not digits and dots is refused, since UIDs name folders and files in storage.
    """
    cleaned = value.strip().rstrip("\x00")
    if not cleaned:
        raise InvalidInput(f"{keyword} is missing or empty")
    if len(cleaned) > MAX_UID_LENGTH or not _LENIENT_UID.match(cleaned):
        raise InvalidInput(f"{keyword} {cleaned[:80]!r} is not a valid UID")
    return cleaned
