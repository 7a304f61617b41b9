"""The event receiver (docs/scanner-api.md "Event receiver"): TCP listeners, plain and TLS,
in their own thread and asyncio loop. Each connection's lines are framed, parsed and offered
to the ScannerEventService; when its queue is full the connection stops reading, so TCP flow
control slows the sender instead of memory growing."""

from __future__ import annotations

import asyncio
import functools
import logging
import ssl
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from slidepacs.config import EventSettings
from slidepacs.domain.scanner_events import MalformedEvent, ScannerEvent, parse_event_line
from slidepacs.errors import ConfigError
from slidepacs.scanner.framing import OVERSIZED, Framer
from slidepacs.services.scanner_events import ScannerEventService

log = logging.getLogger(__name__)
READ_BYTES = 1 << 16
QUEUE_FULL_PAUSE = 0.01
PENDING_EVENTS = 256  # parsed events a connection holds while the queue is full
LOGGED_PROBLEMS = 5  # malformed or oversized lines logged per connection (then only counted)
REFUSAL_LOG_SECONDS = 10.0
START_TIMEOUT = 30.0
HANDSHAKE_SECONDS = 30.0

Parser = Callable[[bytes, str, datetime], ScannerEvent]


@dataclass
class _Connection:
    """One sender's connection and what came over it."""

    address: str
    events: int = 0
    malformed: int = 0
    oversized: int = 0

    @property
    def problems(self) -> int:
        return self.malformed + self.oversized


class EventReceiver:
    """Plain and TLS listeners (a port of 0 is off) feeding ``service``."""

    def __init__(self, service: ScannerEventService, settings: EventSettings,
                 tls: ssl.SSLContext | None, parse: Parser = parse_event_line) -> None:
        self.service = service
        self.settings = settings
        self._tls = tls
        self._parse = parse
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._servers: list[asyncio.Server] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._open = 0
        self._last_refusal_log = 0.0
        self._refused_since_log = 0

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        """Start the writer and bind the listeners; ConfigError naming the port if one
        cannot listen."""
        started = threading.Event()
        failure: list[BaseException] = []
        self._loop = asyncio.new_event_loop()
        self._loop.set_exception_handler(self._loop_problem)
        self.service.start()
        self._thread = threading.Thread(target=self._run, args=(started, failure),
                                        name="event-receiver", daemon=True)
        self._thread.start()
        if not started.wait(START_TIMEOUT):
            failure.append(ConfigError("events.port", "the event receiver did not start"))
        if failure:
            self.stop()
            raise failure[0]
        log.info("event receiver listening on %s", self.address())

    def describe(self) -> list[str]:
        """The banner line."""
        return [f"event receiver {self.address()}"]

    def address(self) -> str:
        """Where it listens, e.g. ``tcp://127.0.0.1:6662 (plain), 6663 (TLS)``."""
        ports = []
        if self.settings.port:
            ports.append(f"{self.settings.port} (plain)")
        if self.settings.tls_port and self._tls is not None:
            ports.append(f"{self.settings.tls_port} (TLS)")
        if not ports:
            return "nowhere (events.port and events.tls_port are 0)"
        return f"tcp://{self.settings.host}:{', '.join(ports)}"

    def stop(self) -> None:
        """Close the listeners and connections, then write what is queued."""
        loop, thread = self._loop, self._thread
        if loop is not None and thread is not None and thread.is_alive():
            asyncio.run_coroutine_threadsafe(self._close(), loop).result(30)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(30)
        if loop is not None and not loop.is_running():
            loop.close()
        self._loop = self._thread = None
        self.service.stop()

    def _run(self, started: threading.Event, failure: list[BaseException]) -> None:
        loop = self._loop
        assert loop is not None
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._listen())
        except BaseException as exc:  # noqa: BLE001 - handed to start()
            failure.append(exc)
            loop.run_until_complete(self._close())  # a listener that did bind
            started.set()
            return
        started.set()
        loop.run_forever()

    async def _listen(self) -> None:
        settings = self.settings
        listeners = [("events.port", settings.port, False)]
        if self._tls is not None:
            listeners.append(("events.tls_port", settings.tls_port, True))
        for setting, port, tls in listeners:
            if not port:
                continue
            accept = functools.partial(self._accept, tls=tls)
            try:
                self._servers.append(await asyncio.start_server(
                    accept, settings.host, port, limit=READ_BYTES, reuse_address=True))
            except OSError as exc:
                raise ConfigError(setting, f"cannot listen on {settings.host}:{port} "
                                  f"({exc.strerror})") from None

    async def _close(self) -> None:
        for server in self._servers:
            server.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=10)
        self._servers.clear()

    def _loop_problem(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        """Whatever asyncio could not hand to a connection: log it, never crash."""
        log.error("event receiver: %s (%s)", context.get("message"), context.get("exception"))

    # -- connections -----------------------------------------------------------------------
    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                      tls: bool = False) -> None:
        """Serve one connection (refused beyond ``max_connections``, TLS handshakes count)."""
        address = _address(writer)
        if self._open >= self.settings.max_connections:
            self._refuse(address)
            writer.close()
            return
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._open += 1
        self.service.count(connections=1, connections_open=1)
        connection = _Connection(address)
        try:
            if not tls or await self._handshake(writer, address):
                await self._read(reader, connection)
        except asyncio.CancelledError:
            pass
        except (ConnectionError, ssl.SSLError, OSError) as exc:
            log.info("event connection from %s ended: %s", address, exc)
        finally:
            self._open -= 1
            self.service.count(connections_open=-1)
            self._tasks.discard(task)
            writer.close()
            if connection.problems:
                log.warning("event connection from %s closed: %d event(s), %d malformed, "
                            "%d oversized line(s)", address, connection.events,
                            connection.malformed, connection.oversized)

    async def _handshake(self, writer: asyncio.StreamWriter, address: str) -> bool:
        """TLS on the accepted connection (here, not in the server, so that a failed
        handshake is logged and counted); False if it failed."""
        assert self._tls is not None
        try:
            # the first await of the connection's task and not wrapped in wait_for: a task
            # started later would let the plain reader take the ClientHello
            await writer.start_tls(self._tls, ssl_handshake_timeout=min(
                HANDSHAKE_SECONDS, self.settings.idle_seconds))
        except (ssl.SSLError, ConnectionError, TimeoutError, OSError) as exc:
            self.service.count(tls_failures=1)
            log.warning("event receiver: TLS handshake with %s failed: %s", address,
                        exc or type(exc).__name__)
            writer.transport.abort()
            return False
        return True

    async def _read(self, reader: asyncio.StreamReader, connection: _Connection) -> None:
        framer = Framer(self.settings.max_line_bytes)
        while True:
            try:
                data = await asyncio.wait_for(reader.read(READ_BYTES), self.settings.idle_seconds)
            except TimeoutError:
                log.info("event connection from %s idle for %d s: closed", connection.address,
                         self.settings.idle_seconds)
                return
            if not data:
                await self._take(framer.finish(), connection)
                return
            await self._take(framer.feed(data), connection)

    async def _take(self, frames: Iterable[bytes | None], connection: _Connection) -> None:
        """Parse ``frames`` and queue the events, waiting while the queue is full."""
        received_at = datetime.now(timezone.utc)
        events: list[ScannerEvent] = []
        problems_before = (connection.malformed, connection.oversized)
        for frame in frames:
            if frame is OVERSIZED:
                self._log_problem(connection, f"a line longer than "
                                  f"{self.settings.max_line_bytes} bytes was dropped")
                connection.oversized += 1
            elif frame:
                try:
                    events.append(self._parse(frame, connection.address, received_at))
                except MalformedEvent as exc:
                    self._log_problem(connection, f"malformed line ({exc}): {frame[:120]!r}")
                    connection.malformed += 1
                if len(events) >= PENDING_EVENTS:  # a chunk of tiny lines stays small too
                    await self._queue(events, connection)
                    events = []
        if (connection.malformed, connection.oversized) != problems_before:
            self.service.count(malformed=connection.malformed - problems_before[0],
                               oversized=connection.oversized - problems_before[1])
        await self._queue(events, connection)

    async def _queue(self, events: list[ScannerEvent], connection: _Connection) -> None:
        """Offer ``events`` until all are taken, pausing while the queue is full."""
        connection.events += len(events)
        while events:
            taken = self.service.offer(events)
            events = events[taken:]
            if events:
                await asyncio.sleep(QUEUE_FULL_PAUSE)

    def _log_problem(self, connection: _Connection, problem: str) -> None:
        if connection.problems < LOGGED_PROBLEMS:
            log.warning("event connection from %s: %s", connection.address, problem)

    def _refuse(self, address: str) -> None:
        self.service.count(connections_refused=1)
        self._refused_since_log += 1
        now = time.monotonic()
        if now - self._last_refusal_log >= REFUSAL_LOG_SECONDS:
            log.warning("event receiver: refused %d connection(s) (from %s, the last): already "
                        "%d open (events.max_connections)", self._refused_since_log, address,
                        self._open)
            self._last_refusal_log = now
            self._refused_since_log = 0


def _address(writer: asyncio.StreamWriter) -> str:
    peer = writer.get_extra_info("peername")
    return str(peer[0]) if isinstance(peer, tuple) else str(peer or "")
