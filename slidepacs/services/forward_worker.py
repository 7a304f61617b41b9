"""The forwarding worker: a dispatcher thread hands due jobs, one batch per destination at a
time, to a thread pool; each batch goes over one association.

A destination never has two batches in flight, and each batch runs in its own thread, so a
slow or dead destination only ever holds its own thread: the others keep being served. The
sending itself is a port (:class:`Sender`) implemented by the DIMSE front.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Protocol

from slidepacs.domain.aes import RemoteAE
from slidepacs.domain.events import ForwardQueued
from slidepacs.domain.forward_queue import ForwardJob
from slidepacs.errors import NotFound
from slidepacs.services.events import EventBus
from slidepacs.services.forwarding import ForwardingService, utcnow

log = logging.getLogger(__name__)
POLL_SECONDS = 2.0  # also picks up jobs queued or retried by other processes (CLI import)
GATHER_SECONDS = 0.3  # after new jobs arrive, wait for the rest of a burst to batch them


class Sender(Protocol):
    """Sends a batch of jobs to one destination over one association."""

    def send(
        self, destination: RemoteAE, jobs: Sequence[ForwardJob],
        report: Callable[[ForwardJob, str | None], None], cancelled: threading.Event,
    ) -> str | None:
        """Report each job's outcome (None or an error); return an association failure."""

    def abort(self) -> None:
        """Abort every association in flight."""


class ForwardWorker:
    """Runs the forwarding queue until stopped."""

    def __init__(
        self, service: ForwardingService, bus: EventBus, sender: Sender, workers: int,
        batch_size: int, poll_seconds: float = POLL_SECONDS,
        gather_seconds: float = GATHER_SECONDS,
    ) -> None:
        self._service = service
        self._bus = bus
        self._sender = sender
        self._workers = workers
        self._batch_size = batch_size
        self._poll = poll_seconds
        self._gather = gather_seconds
        self._wake = threading.Event()
        self._queued = threading.Event()
        self._stopping = threading.Event()
        self._busy: set[str] = set()
        self._futures: set[Future[None]] = set()
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self._thread: threading.Thread | None = None
        self._unsubscribe: Callable[[], None] | None = None

    def start(self) -> None:
        """Put interrupted jobs back in the queue and start serving it."""
        self._service.reset_interrupted()
        self._unsubscribe = self._bus.subscribe(ForwardQueued, self._on_queued)
        self._pool = ThreadPoolExecutor(self._workers, thread_name_prefix="forward")
        self._thread = threading.Thread(target=self._run, name="forward-dispatch", daemon=True)
        self._thread.start()

    def stop(self, grace_seconds: float = 10.0) -> None:
        """Stop claiming; let batches finish their current instance (aborting associations
        still busy after ``grace_seconds``); unsent jobs stay queued."""
        self._stopping.set()
        self._wake.set()
        if self._unsubscribe:
            self._unsubscribe()
        if self._thread:
            self._thread.join()
        with self._lock:
            futures = set(self._futures)
        if wait(futures, timeout=grace_seconds).not_done:
            log.warning("aborting forwarding associations still busy after %.0f s", grace_seconds)
            self._sender.abort()
            wait(futures, timeout=grace_seconds)
        if self._pool:
            self._pool.shutdown(wait=False)

    def _on_queued(self, _event: ForwardQueued) -> None:
        self._queued.set()
        self._wake.set()

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._wake.clear()
            if self._queued.is_set():
                self._queued.clear()
                self._stopping.wait(self._gather)
            try:
                self._dispatch()
                pause = self._pause()
            except Exception:
                log.exception("forwarding dispatcher failed; trying again in %.0f s", self._poll)
                pause = self._poll
            self._wake.wait(pause)

    def _dispatch(self) -> None:
        """Claim one batch for each due destination that has no batch in flight."""
        with self._lock:
            busy = sorted(self._busy)
        free = self._workers - len(busy)
        if free <= 0:
            return
        for destination in self._service.due_destinations(exclude=busy)[:free]:
            if self._stopping.is_set():
                return
            jobs = self._service.claim(destination, self._batch_size)
            if not jobs:
                continue
            with self._lock:
                self._busy.add(destination)
                future = self._pool.submit(self._deliver, destination, jobs)  # type: ignore[union-attr]
                self._futures.add(future)
            future.add_done_callback(self._forget)

    def _pause(self) -> float:
        """Seconds until the next job is due (at most the poll interval)."""
        with self._lock:
            if len(self._busy) >= self._workers:
                return self._poll
            busy = sorted(self._busy)
        due = self._service.next_due(exclude=busy)
        if due is None:
            return self._poll
        return min(self._poll, max(0.0, (due - utcnow()).total_seconds()))

    def _forget(self, future: Future[None]) -> None:
        with self._lock:
            self._futures.discard(future)

    def _deliver(self, destination: str, jobs: list[ForwardJob]) -> None:
        try:
            self._send(destination, jobs)
        except Exception as exc:
            log.exception("forwarding a batch to %s failed", destination)
            self._recover(destination, jobs, exc)
        finally:
            with self._lock:
                self._busy.discard(destination)
            self._wake.set()

    def _recover(self, destination: str, jobs: list[ForwardJob], exc: Exception) -> None:
        """After an unexpected error, jobs still marked sending back off (finished jobs are
        left alone: their claim is gone)."""
        try:
            self._service.fail_destination(destination, jobs, f"internal error ("
                                           f"{type(exc).__name__}: {exc}; see the server log)")
        except Exception:
            log.exception("cannot reschedule the batch to %s; it is resumed at the next start",
                          destination)

    def _send(self, destination: str, jobs: list[ForwardJob]) -> None:
        unreported = {job.pk: job for job in jobs}
        try:
            remote = self._service.destination(destination)
        except NotFound:
            self._service.fail_destination(destination, jobs, f"{destination} is not a "
                                            "registered AE (register it with `slidepacs ae add`)")
            return

        def report(job: ForwardJob, error: str | None) -> None:
            unreported.pop(job.pk, None)
            if error is None:
                self._service.complete(job)
            else:
                self._service.fail(job, error)

        try:
            error = self._sender.send(remote, jobs, report, self._stopping)
        except Exception as exc:
            log.exception("sending to %s failed", destination)
            error = f"internal error ({type(exc).__name__}: {exc}; see the server log)"
        rest = list(unreported.values())
        if rest and (error is None or self._stopping.is_set()):
            self._service.release(rest)
        elif rest:
            self._service.fail_destination(destination, rest, str(error))
