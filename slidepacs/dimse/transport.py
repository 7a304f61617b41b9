"""The association server: pynetdicom's threaded server with the transport slidepacs needs.

- The TLS handshake runs in the connection's own thread under a timeout. pynetdicom does it
  in the accept loop, where one client that connects and stays silent holds up every other
  connection to a TLS listener.
- Every connection gets TCP_NODELAY (Nagle would delay each response) and a timeout, so a
  peer that stalls in the middle of a PDU is dropped after ``network_timeout`` instead of
  holding its threads (and the process's exit) forever.
- A connection's thread waits for its association to end, then removes the file of a data
  set that was only partly received (pynetdicom leaves it behind when an association is
  aborted or the connection drops).
- :meth:`AssociationServer.stop` stops accepting, lets associations finish for a grace
  period, aborts the rest and waits for their handlers, so nothing is stored half-way after
  it returns.
"""

from __future__ import annotations

import logging
import socket
import socketserver
import ssl
import threading
import time
from typing import Any

from pynetdicom import evt, transport
from pynetdicom.association import Association

from slidepacs.dimse.incoming import discard_unhandled_datasets
from slidepacs.dimse.dul import DULServiceProvider, FastAssociationSocket

log = logging.getLogger(__name__)
ABORT_SECONDS = 1.0       # for an aborting association to send its A-ABORT before the close
HANDLER_SECONDS = 120.0   # for a handler still running (e.g. storing a large file) to return


class AssociationServer(transport.ThreadedAssociationServer):
    """A threaded association server that can be stopped gracefully."""

    daemon_threads = True   # :meth:`stop` waits for the connections that matter itself
    block_on_close = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, request_handler=_RequestHandler, **kwargs)
        self._associations: set[Association] = set()
        self._connections: set[threading.Thread] = set()
        self._lock = threading.Lock()

    def get_request(self) -> tuple[socket.socket, Any]:
        """Accept a connection (any TLS handshake happens later, in its own thread)."""
        return self.socket.accept()

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        """Serve one connection in its own thread, from the handshake to the association's end."""
        with self._lock:
            self._connections.add(threading.current_thread())
        connection = request
        try:
            connection = self._prepare(request, client_address)
            if connection is not None:
                self.finish_request(connection, client_address)
        except Exception:
            log.exception("connection from %s failed", client_address[0])
        finally:
            _close(connection if connection is not None else request)
            with self._lock:
                self._connections.discard(threading.current_thread())

    def track(self, association: Association, running: bool) -> None:
        """Record (or forget) an association served by this server."""
        with self._lock:
            if running:
                self._associations.add(association)
            else:
                self._associations.discard(association)

    def stop(self, grace: float) -> None:
        """Stop accepting; give associations ``grace`` seconds to end, then abort the rest
        and wait until every handler has returned and partial files are removed."""
        socketserver.BaseServer.shutdown(self)
        transport.AssociationServer.server_close(self)  # closes the listening socket only
        if self in self.ae._servers:
            self.ae._servers.remove(self)
        deadline = time.monotonic() + grace
        for association in self._snapshot():
            association.join(max(0.0, deadline - time.monotonic()))
        remaining = [a for a in self._snapshot() if a.is_alive()]
        if remaining:
            log.warning("aborting %d association(s) still open at shutdown", len(remaining))
            _abort(remaining)
        deadline = time.monotonic() + HANDLER_SECONDS
        with self._lock:
            connections = list(self._connections)
        for thread in connections:
            thread.join(max(0.0, deadline - time.monotonic()))
            if thread.is_alive():
                log.error("a connection thread did not end within %.0f s", HANDLER_SECONDS)

    def _snapshot(self) -> list[Association]:
        with self._lock:
            return list(self._associations)

    def _prepare(self, request: socket.socket, address: Any) -> socket.socket | None:
        """Socket options, then the TLS handshake if any; None when the handshake fails."""
        request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.ssl_context is None:
            request.settimeout(self.ae.network_timeout)
            return request
        request.settimeout(self.ae.acse_timeout)
        try:
            connection = self.ssl_context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError) as exc:
            log.warning("TLS handshake with %s failed: %s", address[0], exc)
            return None
        connection.settimeout(self.ae.network_timeout)
        return connection


class _RequestHandler(transport.RequestHandler):
    """Runs one association and stays with it until it ends."""

    server: AssociationServer

    def handle(self) -> None:
        association = self._create_association()
        association.dul.__class__ = DULServiceProvider  # see dimse.dul: both classes only
        association.dul.socket.__class__ = FastAssociationSocket  # override methods
        association.dul.serve(association)
        self.server.track(association, True)
        try:
            evt.trigger(association, evt.EVT_CONN_OPEN, {"address": self.client_address})
            association.start()
            association.join()
            association.dul.join(HANDLER_SECONDS)
        finally:
            self.server.track(association, False)
            discard_unhandled_datasets(association)
            if not association.dul.is_alive():
                association.dul.close_wakeups()


def _abort(associations: list[Association]) -> None:
    """Send A-ABORT, then close the connections (which also ends a read stuck on a peer
    that stopped sending) and stop their DUL threads; running handlers still finish."""
    for association in associations:
        association.abort(block=False)
    deadline = time.monotonic() + ABORT_SECONDS
    for association in associations:
        while (association.dul.is_alive() and time.monotonic() < deadline
               and association.dul.state_machine.current_state not in ("Sta1", "Sta13")):
            time.sleep(0.01)
    for association in associations:
        sock = association.dul.socket
        if sock is not None and sock.socket is not None:
            _close(sock.socket)
        association.dul.kill_dul()
        if association.requestor.primitive is None:
            # still waiting (up to the ACSE timeout) for an A-ASSOCIATE-RQ that will never
            # come: pynetdicom treats None as that wait timing out, and ends the thread
            association.dul.to_user_queue.put(None)


def _close(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()
