"""Fixes to pynetdicom's DICOM Upper Layer (DUL), applied to each accepted association.

- Reading: pynetdicom reads a PDU 4 KB at a time and appends each piece to a growing buffer,
  so a 4 MB P-DATA-TF costs a thousand ``recv`` calls and two extra copies.
  :class:`FastAssociationSocket` reads straight into one buffer of the PDU's size.
- Turn-taking: pynetdicom's reactor either sends or reads per turn, and sends first. While a
  handler keeps its send queue full (a C-FIND with many matches, a C-GET) it never reads, so
  a C-CANCEL from the peer is only seen once everything has been sent.
  :class:`DULServiceProvider` also reads a waiting PDU on the turns it sends one.
- Waiting: both of pynetdicom's reactors (the DUL's and the association's) poll, sleeping
  1 ms between turns, which adds up to ~3 ms to every C-STORE round trip. For the
  associations slidepacs serves, those sleeps instead wait until something happens: the DUL
  until its socket is readable or a PDU is queued for sending, the association until a
  message or an A-RELEASE/A-ABORT is queued for it (at most :data:`IDLE_WAIT` either way, so
  timers and stop flags are still seen). pynetdicom's logic is unchanged: only the ``time``
  module its two modules see is replaced, by one whose ``sleep`` asks the current thread.
- C-STORE: an AE with a ``store_handler`` (slidepacs' listeners) has its plain C-STORE-RQs
  received, stored and answered by the DUL thread itself (dimse.store_receiver), P-DATA-TF
  bodies read into one reused buffer; everything else takes pynetdicom's path.
- Limits: a PDU announcing more than the AE's maximum PDU length (1 MiB for control PDUs)
  drops the connection before anything is read; the send queue is bounded, so a handler
  that produces responses faster than the peer takes them waits (and sees a C-CANCEL).
"""

from __future__ import annotations

import logging
import os
import queue
import select
import ssl
import struct
import threading
import time
from collections.abc import Callable
from types import ModuleType
from typing import Any

from pynetdicom import association as pynetdicom_association
from pynetdicom import dul, transport
from pynetdicom.association import Association

from slidepacs.dimse.commands import P_DATA_TF
from slidepacs.dimse.store_receiver import StoreReceiver

LOGGER = logging.getLogger(__name__)
READ_CHUNK = 1 << 20
LONGEST_CONTROL_PDU = 1 << 20  # an A-ASSOCIATE-RQ with every context and extended negotiation
IDLE_WAIT = 0.02      # longest wait without activity: timers and stop flags are seen this soon
REACTOR_TICK = 0.001  # the association reactor's per-turn sleep, the only one replaced there
SEND_QUEUE_SIZE = 8   # PDUs a handler may queue ahead of the socket
_PDU_HEADER = struct.Struct(">BBL")
_PDU_TYPES = frozenset(range(0x01, 0x08))
PDUS_PER_TURN = 64  # P-DATA-TFs of one data set read per reactor turn, if already waiting


class FastAssociationSocket(transport.AssociationSocket):
    """An association socket whose ``recv`` fills one preallocated buffer, and that drops
    the connection instead of reading a PDU longer than this AE accepts."""

    def recv(self, nr_bytes: int) -> bytearray:
        """Read exactly ``nr_bytes`` (fewer only if the peer closed the connection, or if
        the peer announced more than :func:`_longest_pdu`: then the connection is closed)."""
        sock = self.socket
        if sock is None:
            return bytearray()
        if nr_bytes > _longest_pdu(self.assoc):
            LOGGER.warning("dropping the connection from %s: it announced a PDU of %d bytes",
                           self.assoc.requestor.address, nr_bytes)
            self.close()
            return bytearray()
        buffer = bytearray(nr_bytes)
        received = _receive_into(sock, buffer, nr_bytes)
        if received < nr_bytes:
            del buffer[received:]
        return buffer

    def recv_reusing(self, nr_bytes: int) -> memoryview:
        """As :meth:`recv`, into a buffer kept for the next call (no allocation per PDU):
        the view is valid until then."""
        sock = self.socket
        if sock is None:
            return memoryview(b"")
        if nr_bytes > _longest_pdu(self.assoc):
            return memoryview(self.recv(nr_bytes))  # refused and closed, as recv does
        buffer: bytearray | None = getattr(self, "_reused", None)
        if buffer is None or len(buffer) < nr_bytes:
            buffer = self._reused = bytearray(nr_bytes)
        return memoryview(buffer)[:_receive_into(sock, buffer, nr_bytes)]


def _receive_into(sock: Any, buffer: bytearray, nr_bytes: int) -> int:
    """Read up to ``nr_bytes`` into the start of ``buffer``; fewer if the peer closed."""
    with memoryview(buffer) as view:
        received = 0
        while received < nr_bytes:
            count = sock.recv_into(view[received:nr_bytes], min(nr_bytes - received, READ_CHUNK))
            if not count:
                break
            received += count
    return received


def _longest_pdu(association: Any) -> int:
    """The longest PDU body to read: the AE's maximum PDU length (P-DATA-TF) or 1 MiB."""
    maximum = getattr(getattr(association, "ae", None), "maximum_pdu_size", 0) or 0
    return max(maximum, LONGEST_CONTROL_PDU) if maximum else 1 << 32


class _WakingQueue(queue.Queue):  # type: ignore[type-arg]
    """A queue that calls ``wake`` after each put."""

    def __init__(self, wake: Callable[[], None]) -> None:
        super().__init__()
        self._wake = wake

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        super().put(item, block, timeout)
        self._wake()


class _SendQueue(_WakingQueue):
    """The DUL's send queue, bounded: a handler that produces responses faster than the
    peer takes them (a large C-FIND) waits, so it sees a C-CANCEL in time and does not
    buffer every response in memory. Only the association's own thread waits (an A-ABORT
    from a stopping server never does), and it gives up once the DUL has ended."""

    def __init__(self, wake: Callable[[], None], provider: dul.DULServiceProvider) -> None:
        super().__init__(wake)
        self.maxsize = SEND_QUEUE_SIZE
        self._provider = provider

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        if threading.current_thread() is not self._provider.assoc:
            with self.mutex:  # past the bound
                self._put(item)
                self.unfinished_tasks += 1
                self.not_empty.notify()
            self._wake()
            return
        while True:
            try:
                super().put(item, timeout=0.1)
                return
            except queue.Full:
                if not self._provider.is_alive() or self._provider._kill_thread:
                    return  # the association is over: nobody would send it


class ServedAssociation(Association):
    """An accepted association whose reactor waits for activity instead of polling."""

    _activity: threading.Event

    def wake(self) -> None:
        """Something was queued for the reactor (or the DUL ended): end its wait."""
        self._activity.set()

    serving: bool = False  # a request is being served (the DUL's StoreReceiver waits)

    def _serve_request(self, msg: Any, context_id: int) -> None:
        self.serving = True
        try:
            super()._serve_request(msg, context_id)
        finally:
            self.serving = False

    def wait_for_activity(self, seconds: float) -> None:
        """The reactor's per-turn sleep: return once a message or ACSE primitive is queued."""
        if seconds != REACTOR_TICK:
            time.sleep(seconds)
            return
        self._activity.clear()
        if (self.dimse.msg_queue.empty() and self.dul.to_user_queue.empty()
                and self.dul.is_alive() and not self._kill):
            self._activity.wait(IDLE_WAIT)


class DULServiceProvider(dul.DULServiceProvider):
    """pynetdicom's DUL, taking turns between sending and reading while it has PDUs to send,
    and waiting for its socket or its send queue instead of polling.

    pynetdicom's reactor handles one event per turn and peeks at the send queue each turn, so
    a turn may read (one PDU, one event) only when no other event is waiting.
    """

    _wake_read: int
    _wake_write: int
    store_receiver: StoreReceiver | None = None

    def serve(self, association: Association) -> None:
        """Wire the wake-ups between this DUL and its association (before either starts)."""
        association.__class__ = ServedAssociation
        association._activity = threading.Event()
        self._wake_read, self._wake_write = os.pipe()
        os.set_blocking(self._wake_read, False)
        os.set_blocking(self._wake_write, False)
        self.to_provider_queue = _SendQueue(self._wake, self)
        self.to_user_queue = _WakingQueue(association.wake)
        association.dimse.msg_queue = _WakingQueue(association.wake)
        handler = getattr(association.ae, "store_handler", None)
        incoming_path = getattr(association.ae, "incoming_path", None)
        if handler is not None and incoming_path is not None:
            self.store_receiver = StoreReceiver(self, handler, incoming_path)

    def run(self) -> None:
        try:
            super().run()
        finally:
            if self.assoc.is_acceptor and self.assoc.requestor.primitive is None:
                # ended (aborted, refused PDU) before an A-ASSOCIATE-RQ came through: end the
                # association's wait for it now instead of at the ACSE timeout
                self.to_user_queue.put(None)
            self.assoc.wake()

    def close_wakeups(self) -> None:
        """Release the wake-up pipe (once the thread has ended)."""
        for fd in (self._wake_read, self._wake_write):
            try:
                os.close(fd)
            except OSError:
                pass

    def _wake(self) -> None:
        try:
            os.write(self._wake_write, b"\0")
        except (BlockingIOError, OSError):
            pass  # full: a wake-up is pending already; closed: the DUL has ended

    def wait_for_activity(self, seconds: float) -> None:
        """The reactor's idle sleep: return once the socket is readable or a PDU is queued."""
        watched: list[Any] = [self._wake_read]
        sock = self.socket.socket if self.socket is not None else None
        if sock is not None and sock.fileno() >= 0:
            if isinstance(sock, ssl.SSLSocket) and sock.pending():
                return
            watched.append(sock)
        if not self.to_provider_queue.empty() or not self.event_queue.empty():
            return
        try:
            select.select(watched, [], [], IDLE_WAIT)
        except (OSError, ValueError):
            return  # the socket closed under us: the next turn sees it
        try:
            while os.read(self._wake_read, 4096):
                pass
        except (BlockingIOError, OSError):
            pass

    def _read_pdu_data(self) -> None:
        """pynetdicom's ``_read_pdu_data``, except that a P-DATA-TF is read into a reused
        buffer and first offered to the association's :class:`StoreReceiver`, if any; while
        that receives a data set, the PDUs already waiting are read in the same turn."""
        receiver: StoreReceiver | None = getattr(self, "store_receiver", None)
        if receiver is None:
            super()._read_pdu_data()
            return
        for _ in range(PDUS_PER_TURN):
            if not (self._read_pdu(receiver) and receiver.receiving and not self._kill_thread
                    and self.socket is not None and self.socket.ready):
                return

    def _read_pdu(self, receiver: StoreReceiver) -> bool:
        """Read one PDU; True if the receiver took it."""
        try:
            header = self.socket.recv(6)  # type: ignore[union-attr]
            pdu_type, _, pdu_length = _PDU_HEADER.unpack(header)
        except (OSError, TimeoutError, struct.error):
            LOGGER.error("Connection closed before the entire PDU was received")
            self.event_queue.put("Evt17")
            return False
        if pdu_type not in _PDU_TYPES:
            LOGGER.error(f"Unknown PDU type received '0x{pdu_type:02X}'")
            self.event_queue.put("Evt19")
            return False
        try:
            body = (self.socket.recv_reusing(pdu_length)  # type: ignore[union-attr]
                    if pdu_type == P_DATA_TF else memoryview(self.socket.recv(pdu_length)))  # type: ignore[union-attr]
        except (OSError, TimeoutError):
            LOGGER.error("Connection closed before the entire PDU was received")
            self.event_queue.put("Evt17")
            return False
        if len(body) != pdu_length:
            LOGGER.error(f"The received PDU is shorter than expected ({len(body) + 6} of "
                         f"{6 + pdu_length} bytes received)")
            self.event_queue.put("Evt17")
            return False
        if pdu_type == P_DATA_TF and receiver.take(body):
            return True
        self._queue_pdu(bytes(header) + bytes(body))
        return False

    def _queue_pdu(self, bytestream: bytes) -> None:
        """Decode a PDU for pynetdicom's state machine (the end of its ``_read_pdu_data``)."""
        try:
            pdu, event = self._decode_pdu(bytearray(bytestream))
            self.event_queue.put(event)
        except Exception:
            LOGGER.exception("Unable to decode the received PDU data")
            self.event_queue.put("Evt19")
            return
        self._recv_pdu.put(pdu)

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


class _ReactorClock(ModuleType):
    """The ``time`` module as pynetdicom's association and DUL modules see it: ``sleep`` in a
    thread that has ``wait_for_activity`` (a served association or its DUL) calls that."""

    def __init__(self) -> None:
        super().__init__("time")
        self.__dict__.update({k: v for k, v in vars(time).items() if not k.startswith("__") and k != "sleep"})

    def sleep(self, seconds: float) -> None:  # type: ignore[override]
        waiter = getattr(threading.current_thread(), "wait_for_activity", None)
        if waiter is None:
            time.sleep(seconds)
        else:
            waiter(seconds)


if not isinstance(dul.time, _ReactorClock):
    dul.time = _ReactorClock()  # type: ignore[attr-defined]
    pynetdicom_association.time = dul.time  # type: ignore[attr-defined]
