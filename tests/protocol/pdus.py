"""Raw DICOM Upper Layer PDUs (PS3.8 §9.3) over a plain socket, for tests that must send
what no well-behaved SCU would: malformed PDUs, data sets cut off, mismatched commands."""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass

from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filereader import read_dataset
from pydicom.filewriter import write_dataset

APPLICATION_CONTEXT = "1.2.840.10008.3.1.1.1"
IMPLEMENTATION_CLASS = "1.2.826.0.1.3680043.9.7433.1.1"
A_ASSOCIATE_RQ, A_ASSOCIATE_AC, A_ASSOCIATE_RJ = 0x01, 0x02, 0x03
P_DATA_TF, A_RELEASE_RQ, A_RELEASE_RP, A_ABORT = 0x04, 0x05, 0x06, 0x07
C_STORE_RQ, C_STORE_RSP = 0x0001, 0x8001
COMMAND, LAST = 0x01, 0x02  # message control header bits of a PDV


def pdu(kind: int, body: bytes) -> bytes:
    """A PDU of ``kind`` carrying ``body``: type, reserved byte, big-endian length, body."""
    return struct.pack(">BBL", kind, 0, len(body)) + body


def _item(kind: int, body: bytes) -> bytes:
    return struct.pack(">BBH", kind, 0, len(body)) + body


def _uid(value: str) -> bytes:
    return value.encode("ascii")


def associate_rq(called: str, calling: str, contexts: list[tuple[int, str, list[str]]],
                 max_pdu: int = 65536) -> bytes:
    """An A-ASSOCIATE-RQ proposing ``contexts`` ((ID, abstract syntax, transfer syntaxes))."""
    items = _item(0x10, _uid(APPLICATION_CONTEXT))
    for context_id, abstract, syntaxes in contexts:
        sub = _item(0x30, _uid(abstract)) + b"".join(_item(0x40, _uid(s)) for s in syntaxes)
        items += _item(0x20, bytes([context_id, 0, 0, 0]) + sub)
    user = _item(0x51, struct.pack(">L", max_pdu)) + _item(0x52, _uid(IMPLEMENTATION_CLASS))
    items += _item(0x50, user)
    header = struct.pack(">HH", 1, 0) + called.ljust(16).encode() + calling.ljust(16).encode()
    return pdu(A_ASSOCIATE_RQ, header + b"\x00" * 32 + items)


def p_data(*pdvs: tuple[int, int, bytes]) -> bytes:
    """A P-DATA-TF with one PDV item per (context ID, control header, data)."""
    body = b"".join(struct.pack(">LBB", len(data) + 2, context_id, control) + data
                    for context_id, control, data in pdvs)
    return pdu(P_DATA_TF, body)


def abort() -> bytes:
    """An A-ABORT from the service user."""
    return pdu(A_ABORT, b"\x00\x00\x00\x00")


def release_rq() -> bytes:
    """An A-RELEASE-RQ."""
    return pdu(A_RELEASE_RQ, b"\x00" * 4)


def command_set(**elements: object) -> bytes:
    """A DIMSE command set (Implicit VR Little Endian, with its group length)."""
    ds = Dataset()
    for keyword, value in elements.items():
        setattr(ds, keyword, value)
    body = _encode(ds)
    ds.CommandGroupLength = len(body)
    return _encode(ds)


def c_store_rq(message_id: int, sop_class: str, sop_instance: str) -> bytes:
    """The command set of a C-STORE-RQ that is followed by a data set."""
    return command_set(AffectedSOPClassUID=sop_class, CommandField=C_STORE_RQ,
                       MessageID=message_id, Priority=0, CommandDataSetType=0x0000,
                       AffectedSOPInstanceUID=sop_instance)


def _encode(ds: Dataset) -> bytes:
    buffer = DicomBytesIO()
    buffer.is_little_endian, buffer.is_implicit_VR = True, True
    write_dataset(buffer, ds)
    return buffer.getvalue()


@dataclass(frozen=True)
class Received:
    """One PDU read from the peer (``kind`` 0 when the connection closed instead)."""

    kind: int
    body: bytes

    def command(self) -> Dataset:
        """The command set carried by this P-DATA-TF (its PDVs joined)."""
        data, offset = b"", 0
        while offset < len(self.body):
            (length,) = struct.unpack_from(">L", self.body, offset)
            data += self.body[offset + 6:offset + 4 + length]
            offset += 4 + length
        return read_dataset(DicomBytesIO(data), is_implicit_VR=True, is_little_endian=True)


class RawAssociation:
    """A TCP connection to a DICOM listener that speaks PDUs given as bytes."""

    def __init__(self, port: int, timeout: float = 30.0) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.accepted: dict[int, str] = {}  # context ID → transfer syntax

    def send(self, data: bytes) -> None:
        """Send bytes as they are."""
        self.sock.sendall(data)

    def receive(self) -> Received:
        """Read one PDU; ``Received(0, b"")`` once the peer has closed the connection."""
        header = self._exactly(6)
        if len(header) < 6:
            return Received(0, b"")
        kind, _, length = struct.unpack(">BBL", header)
        return Received(kind, self._exactly(length))

    def associate(self, called: str, calling: str,
                  contexts: list[tuple[int, str, list[str]]]) -> None:
        """Negotiate an association; fail unless the listener accepts it."""
        self.send(associate_rq(called, calling, contexts))
        answer = self.receive()
        if answer.kind != A_ASSOCIATE_AC:
            raise AssertionError(f"association not accepted (PDU type {answer.kind:#04x})")
        offset = 68  # variable items of the A-ASSOCIATE-AC
        while offset < len(answer.body):
            kind, _, length = struct.unpack_from(">BBH", answer.body, offset)
            item = answer.body[offset + 4:offset + 4 + length]
            if kind == 0x21 and item[2] == 0:  # accepted presentation context
                self.accepted[item[0]] = item[8:].rstrip(b"\x00").decode()
            offset += 4 + length

    def close(self) -> None:
        """Close the connection without a release or abort."""
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()

    def _exactly(self, count: int) -> bytes:
        data = b""
        while len(data) < count:
            chunk = self.sock.recv(min(count - len(data), 1 << 20))
            if not chunk:
                break
            data += chunk
        return data
