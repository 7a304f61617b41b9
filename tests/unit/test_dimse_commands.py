"""dimse.commands encodes and decodes exactly what pynetdicom does for the same message."""

from __future__ import annotations

import struct
from io import BytesIO

import pytest
from pydicom.filewriter import write_file_meta_info
from pydicom.uid import UID
from pynetdicom.dimse_messages import C_STORE_RQ as StoreRequestMessage
from pynetdicom.dimse_messages import C_STORE_RSP as StoreResponseMessage
from pynetdicom.dimse_primitives import C_STORE
from pynetdicom.dsutils import create_file_meta

from slidepacs.dimse.commands import (
    StoreRequest,
    file_meta,
    fragments,
    parse_store_request,
    store_response_pdu,
)

CT = "1.2.840.10008.5.1.4.1.1.2"


def _pynetdicom_pdvs(primitive: C_STORE, message: type, max_pdu: int = 16384) -> list[bytes]:
    encoded = message()
    encoded.primitive_to_message(primitive)
    return [data for p in encoded.encode_msg(1, max_pdu)
            for _cx, data in p.presentation_data_value_list]


@pytest.mark.parametrize("instance", ["1.2.3.4.5", "1.2.3.4.56"])
def test_file_meta_is_pynetdicoms(instance: str) -> None:
    expected = BytesIO()
    expected.write(b"\x00" * 128 + b"DICM")
    write_file_meta_info(expected, create_file_meta(
        sop_class_uid=UID(CT), sop_instance_uid=UID(instance),
        transfer_syntax=UID("1.2.840.10008.1.2.1")))
    assert file_meta(CT, instance, "1.2.840.10008.1.2.1") == expected.getvalue()


@pytest.mark.parametrize("status, comment", [(0x0000, None), (0xA900, "odd comment"),
                                             (0xA700, "even comment")])
def test_store_response_is_pynetdicoms(status: int, comment: str | None) -> None:
    primitive = C_STORE()
    primitive.MessageIDBeingRespondedTo = 7
    primitive.AffectedSOPClassUID = CT
    primitive.AffectedSOPInstanceUID = "1.2.3.4.5"
    primitive.Status = status
    if comment is not None:
        primitive.ErrorComment = comment
    [expected] = _pynetdicom_pdvs(primitive, StoreResponseMessage)
    pdu = store_response_pdu(StoreRequest(1, 7, CT, "1.2.3.4.5", 2), status, comment, 16384)
    assert pdu[0] == 0x04 and struct.unpack(">L", pdu[2:6])[0] == len(pdu) - 6
    [(context_id, control, value)] = fragments(memoryview(pdu)[6:])  # type: ignore[misc]
    assert context_id == 1 and bytes([control]) + bytes(value) == expected


def test_a_store_request_from_pynetdicom_is_parsed() -> None:
    primitive = C_STORE()
    primitive.MessageID = 3
    primitive.AffectedSOPClassUID = CT
    primitive.AffectedSOPInstanceUID = "1.2.3.4.5"
    primitive.Priority = 2
    primitive.DataSet = BytesIO(b"\x08\x00\x18\x00")
    command = _pynetdicom_pdvs(primitive, StoreRequestMessage)[0]
    assert command[0] == 0x03
    assert parse_store_request(5, memoryview(command)[1:]) == StoreRequest(5, 3, CT, "1.2.3.4.5", 2)


def test_a_move_originated_store_request_is_left_to_pynetdicom() -> None:
    primitive = C_STORE()
    primitive.MessageID = 3
    primitive.AffectedSOPClassUID = CT
    primitive.AffectedSOPInstanceUID = "1.2.3.4.5"
    primitive.Priority = 2
    primitive.MoveOriginatorApplicationEntityTitle = "MOVER"
    primitive.MoveOriginatorMessageID = 9
    primitive.DataSet = BytesIO(b"\x08\x00\x18\x00")
    command = _pynetdicom_pdvs(primitive, StoreRequestMessage)[0]
    assert parse_store_request(5, memoryview(command)[1:]) is None


@pytest.mark.parametrize("body", [b"", b"\x00\x00\x00\x01\x01", b"\x00\x00\x00\x00\x01\x03",
                                  b"\x00\x00\x03\xe8\x07\x00" + b"\x00" * 20])
def test_malformed_pdv_items_are_refused(body: bytes) -> None:
    assert fragments(memoryview(body)) is None


def test_a_response_is_split_to_the_peers_maximum_pdu() -> None:
    pdu = store_response_pdu(StoreRequest(1, 7, CT, "1.2.3.4.5", 2), 0xA700, "x" * 64, 64)
    pieces, offset = [], 0
    while offset < len(pdu):
        length = struct.unpack(">L", pdu[offset + 2:offset + 6])[0]
        assert length + 6 <= 64
        [(_cx, control, value)] = fragments(memoryview(pdu)[offset + 6:offset + 6 + length])  # type: ignore[misc]
        pieces.append((control, bytes(value)))
        offset += 6 + length
    assert [c for c, _ in pieces] == [0x01] * (len(pieces) - 1) + [0x03]
    whole = store_response_pdu(StoreRequest(1, 7, CT, "1.2.3.4.5", 2), 0xA700, "x" * 64, 0)
    assert b"".join(v for _, v in pieces) == whole[12:]
