"""Two fixes to pynetdicom's DICOM Upper Layer (DUL), applied to each accepted association.

- Reading: pynetdicom reads a PDU 4 KB at a time and appends each piece to a growing buffer,
  so a 4 MB P-DATA-TF costs a thousand ``recv`` calls and two extra copies.
  :class:`FastAssociationSocket` reads straight into one buffer of the PDU's size.
- Turn-taking: pynetdicom's reactor either sends or reads per turn, and sends first. While a
  handler keeps its send queue full (a C-FIND with many matches, a C-GET) it never reads, so
  a C-CANCEL from the peer is only seen once everything has been sent.
  :class:`DULServiceProvider` also reads a waiting PDU on the turns it sends one.
"""

from __future__ import annotations

from pynetdicom import dul, transport

READ_CHUNK = 1 << 20


class FastAssociationSocket(transport.AssociationSocket):
    """An association socket whose ``recv`` fills one preallocated buffer."""

    def recv(self, nr_bytes: int) -> bytearray:
        """Read exactly ``nr_bytes`` (fewer only if the peer closed the connection)."""
        sock = self.socket
        if sock is None:
            return bytearray()
        buffer = bytearray(nr_bytes)
        view = memoryview(buffer)
        received = 0
        while received < nr_bytes:
            count = sock.recv_into(view[received:], min(nr_bytes - received, READ_CHUNK))
            if not count:
                view.release()
                del buffer[received:]
                return buffer
            received += count
        view.release()
        return buffer


class DULServiceProvider(dul.DULServiceProvider):
    """pynetdicom's DUL, taking turns between sending and reading while it has PDUs to send.

    pynetdicom's reactor handles one event per turn and peeks at the send queue each turn, so
    a turn may read (one PDU, one event) only when no other event is waiting.
    """

    def _process_recv_primitive(self) -> bool:
        reading_turn = getattr(self, "_reading_turn", True)
        self._reading_turn = not reading_turn
        sock = self.socket
        if (reading_turn and not self.to_provider_queue.empty() and self.event_queue.empty()
                and self.state_machine.current_state == "Sta6"
                and sock is not None and sock.ready):
            self._read_pdu_data()
            self._idle_timer.restart()
            return True
        return super()._process_recv_primitive()
