"""A pynetdicom SCU for tests: associate with a running DICOM front, compare stored bytes."""

from __future__ import annotations

import struct
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pydicom.data import get_testdata_file
from pynetdicom import AE
from pynetdicom.association import Association

_LONG_VRS = {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR",
             b"UT", b"UV"}


@contextmanager
def associate(
    port: int,
    called: str,
    contexts: Sequence[tuple[str, Sequence[str] | None]],
    *,
    calling: str = "PYSCU",
    ext_neg: Sequence[Any] = (),
    handlers: Sequence[tuple[Any, Any]] = (),
    maximum_pdu: int = 16382,
    timeout: float = 60,
) -> Iterator[Association]:
    """An established association to ``127.0.0.1:port`` proposing ``contexts``
    ((abstract syntax, transfer syntaxes or None for the defaults)); released at the end."""
    ae = AE(calling)
    ae.maximum_pdu_size = maximum_pdu
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = timeout
    for abstract_syntax, syntaxes in contexts:
        if syntaxes is None:
            ae.add_requested_context(abstract_syntax)
        else:
            ae.add_requested_context(abstract_syntax, list(syntaxes))
    association = ae.associate("127.0.0.1", port, ae_title=called, ext_neg=list(ext_neg),
                               evt_handlers=list(handlers))
    if not association.is_established:
        raise AssertionError(f"association with {called} on port {port} was not established")
    try:
        yield association
    finally:
        if association.is_established:
            association.release()


def context_id(association: Association, abstract_syntax: str) -> int:
    """The accepted presentation context ID for ``abstract_syntax``."""
    for context in association.accepted_contexts:
        if context.abstract_syntax == abstract_syntax:
            return int(context.context_id)
    raise AssertionError(f"no accepted context for {abstract_syntax}")


def pydicom_file(name: str) -> Path:
    """A file from pydicom's test data (pydicom-data); a missing file fails the test."""
    found = get_testdata_file(name)
    if found is None:
        raise FileNotFoundError(f"pydicom test file {name} is missing (install pydicom-data)")
    return Path(str(found))


def dataset_offset(path: Path) -> int:
    """Where the data set of a Part 10 file starts: after the preamble and File Meta group."""
    with path.open("rb") as handle:
        head = handle.read(1 << 16)
    if head[128:132] != b"DICM":
        raise AssertionError(f"{path} is not a Part 10 file")
    offset = 132
    while head[offset:offset + 2] == b"\x02\x00":
        if head[offset + 4:offset + 6] in _LONG_VRS:
            (length,) = struct.unpack_from("<L", head, offset + 8)
            offset += 12 + length
        else:
            (length,) = struct.unpack_from("<H", head, offset + 6)
            offset += 8 + length
    return offset


def dataset_bytes(path: Path) -> bytes:
    """The bytes of a Part 10 file after its File Meta group: the data set exactly as it
    travels in a C-STORE."""
    return path.read_bytes()[dataset_offset(path):]
