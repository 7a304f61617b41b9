"""C-STORE on the wire, without pydicom: P-DATA-TF items, the C-STORE-RQ command set, the
C-STORE-RSP PDU and the File Meta Information pynetdicom writes before a received data set.

Everything here is byte-for-byte what pynetdicom decodes and encodes for the same message
(PS3.7 E, PS3.8 9.3.5, PS3.10 7.1); anything unusual is reported as ``None`` so that the
caller can leave the message to pynetdicom.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass

from pynetdicom import PYNETDICOM_IMPLEMENTATION_UID, PYNETDICOM_IMPLEMENTATION_VERSION

P_DATA_TF = 0x04
COMMAND = 0x01  # message control header bits (PS3.8 E.2)
LAST = 0x02
C_STORE_RQ = 0x0001
C_STORE_RSP = 0x8001
NO_DATA_SET = 0x0101
_UID = re.compile(rb"[0-9]+(\.[0-9]+)*")
_ITEM = struct.Struct(">LB")
_ELEMENT = struct.Struct("<HHL")
_US = struct.Struct("<H")
# (0000,eeee) elements a plain C-STORE-RQ has; anything else goes the general way
_STORE_RQ_ELEMENTS = frozenset({0x0000, 0x0002, 0x0100, 0x0110, 0x0700, 0x0800, 0x1000})
_REQUIRED = frozenset({0x0002, 0x0100, 0x0110, 0x0700, 0x0800, 0x1000})


@dataclass(frozen=True, slots=True)
class StoreRequest:
    """A C-STORE-RQ command set (the attribute names are pynetdicom's)."""

    context_id: int
    MessageID: int
    AffectedSOPClassUID: str
    AffectedSOPInstanceUID: str
    Priority: int


Fragment = tuple[int, int, memoryview]  # (presentation context ID, control header, value)


def fragments(body: memoryview) -> list[Fragment] | None:
    """The PDV items of a P-DATA-TF body (after its 6-byte header); None if malformed."""
    items: list[Fragment] = []
    offset, end = 0, len(body)
    while offset < end:
        if offset + 6 > end:
            return None
        length, context_id = _ITEM.unpack_from(body, offset)
        if length < 2 or offset + 4 + length > end:
            return None
        items.append((context_id, body[offset + 5], body[offset + 6:offset + 4 + length]))
        offset += 4 + length
    return items or None


def parse_store_request(context_id: int, command: memoryview) -> StoreRequest | None:
    """The C-STORE-RQ in an Implicit VR Little Endian command set, if it is a plain one
    (with a data set, valid UIDs, no other elements); else None."""
    values: dict[int, bytes] = {}
    offset, end = 0, len(command)
    while offset < end:
        if offset + 8 > end:
            return None
        group, element, length = _ELEMENT.unpack_from(command, offset)
        offset += 8
        if group != 0 or element not in _STORE_RQ_ELEMENTS or offset + length > end:
            return None
        values[element] = bytes(command[offset:offset + length])
        offset += length
    if not _REQUIRED <= values.keys():
        return None
    numbers = [_unsigned(values[e]) for e in (0x0100, 0x0110, 0x0700, 0x0800)]
    sop_class, sop_instance = _uid(values[0x0002]), _uid(values[0x1000])
    if None in numbers or sop_class is None or sop_instance is None:
        return None
    field, message_id, priority, data_set_type = numbers
    if field != C_STORE_RQ or data_set_type == NO_DATA_SET:
        return None
    return StoreRequest(context_id, message_id, sop_class, sop_instance,  # type: ignore[arg-type]
                        priority)  # type: ignore[arg-type]


def store_response_pdu(request: StoreRequest, status: int, comment: str | None,
                       max_pdu: int) -> bytes:
    """P-DATA-TF PDU(s) carrying the C-STORE-RSP to ``request`` (split to ``max_pdu``, the
    peer's maximum PDU length, 0 for no limit)."""
    elements = [
        _element(0x0002, _padded_uid(request.AffectedSOPClassUID)),
        _element(0x0100, _US.pack(C_STORE_RSP)),
        _element(0x0120, _US.pack(request.MessageID)),
        _element(0x0800, _US.pack(NO_DATA_SET)),
        _element(0x0900, _US.pack(status)),
    ]
    if comment is not None:
        text = comment.encode("ascii", "replace")
        elements.append(_element(0x0902, text + b" " * (len(text) % 2)))
    elements.append(_element(0x1000, _padded_uid(request.AffectedSOPInstanceUID)))
    body = b"".join(elements)
    command = _element(0x0000, struct.pack("<L", len(body))) + body
    return _p_data(request.context_id, command, max_pdu)


def file_meta(sop_class_uid: str, sop_instance_uid: str, transfer_syntax: str) -> bytes:
    """Preamble, ``DICM`` and the File Meta Information pynetdicom writes before a received
    data set (its ``create_file_meta`` encoded by pydicom's ``write_file_meta_info``)."""
    elements = b"".join([
        _explicit(0x0001, b"OB", b"\x00\x01"),
        _explicit(0x0002, b"UI", _padded_uid(sop_class_uid)),
        _explicit(0x0003, b"UI", _padded_uid(sop_instance_uid)),
        _explicit(0x0010, b"UI", _padded_uid(transfer_syntax)),
        _explicit(0x0012, b"UI", _padded_uid(PYNETDICOM_IMPLEMENTATION_UID)),
        _explicit(0x0013, b"SH", _padded_text(PYNETDICOM_IMPLEMENTATION_VERSION)),
    ])
    return b"\x00" * 128 + b"DICM" + _explicit(0x0000, b"UL", struct.pack("<L", len(elements))) + elements


def _p_data(context_id: int, command: bytes, max_pdu: int) -> bytes:
    room = max(max_pdu - 12, 1) if max_pdu else len(command)
    pdus = []
    for start in range(0, len(command), room):
        piece = command[start:start + room]
        control = COMMAND | (LAST if start + room >= len(command) else 0)
        pdus.append(struct.pack(">BBLLBB", P_DATA_TF, 0, len(piece) + 6, len(piece) + 2,
                                context_id, control) + piece)
    return b"".join(pdus)


def _element(element: int, value: bytes) -> bytes:
    return _ELEMENT.pack(0, element, len(value)) + value


def _explicit(element: int, vr: bytes, value: bytes) -> bytes:
    if vr == b"OB":
        return struct.pack("<HH2sHL", 2, element, vr, 0, len(value)) + value
    return struct.pack("<HH2sH", 2, element, vr, len(value)) + value


def _unsigned(value: bytes) -> int | None:
    return _US.unpack(value)[0] if len(value) == 2 else None


def _uid(value: bytes) -> str | None:
    text = value[:-1] if value.endswith(b"\x00") else value  # one pad byte at most
    if len(text) > 64 or not _UID.fullmatch(text):
        return None
    return text.decode("ascii")


def _padded_uid(uid: str) -> bytes:
    data = uid.encode("ascii")
    return data + b"\x00" * (len(data) % 2)


def _padded_text(text: str) -> bytes:
    data = text.encode("ascii")
    return data + b" " * (len(data) % 2)
