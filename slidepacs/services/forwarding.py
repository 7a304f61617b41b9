"""The forwarding queue: enqueue matching instances, claim, complete, fail with backoff.

Subscribed to ``InstanceStored``, the service queues one job per (instance, destination) for
the rules that match, in the index, so that the queue survives restarts. The worker
(``forward_worker``) claims due jobs per destination, sends them and reports each outcome
here; every change is its own short transaction.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from slidepacs.domain.aes import RemoteAE
from slidepacs.domain.events import ForwardQueued, InstanceStored
from slidepacs.domain.forward_queue import (
    DestinationStatus,
    ForwardJob,
    ForwardTarget,
    RetryPolicy,
)
from slidepacs.domain.forwarding import ForwardRule
from slidepacs.errors import NotFound, StorageFailure
from slidepacs.index.forwarding import QueuedJob
from slidepacs.index.unit_of_work import UnitOfWork
from slidepacs.services.ae_registry import AERegistry
from slidepacs.services.events import EventBus
from slidepacs.services.forward_rules import ForwardRules
from slidepacs.storage import BlobStore

log = logging.getLogger(__name__)
MAX_ERROR_LENGTH = 1000


def utcnow() -> datetime:
    """Timezone-aware current time in UTC."""
    return datetime.now(timezone.utc)


@dataclass(frozen=True, slots=True)
class RetryResult:
    """What ``forward retry`` changed."""

    failed_reset: int
    pending_advanced: int


class ForwardingService:
    """Queues instances for forwarding and records what happened to each job."""

    def __init__(
        self, unit_of_work: UnitOfWork, store: BlobStore, bus: EventBus, rules: ForwardRules,
        registry: AERegistry, policy: RetryPolicy,
    ) -> None:
        self._uow = unit_of_work
        self._store = store
        self._bus = bus
        self.rules = rules
        self._registry = registry
        self.policy = policy
        self._resting: dict[str, datetime] = {}  # destination → no new attempt before
        self._warned: set[str] = set()  # unregistered destinations already logged
        self._lock = threading.Lock()

    # -- queueing ----------------------------------------------------------------------------
    def on_instance_stored(self, event: InstanceStored) -> None:
        """Queue the instance for every destination a matching rule names."""
        targets = self._targets(self.rules.matching(event))
        if not targets:
            return
        now = utcnow()
        with self._uow.write() as repo:
            repo.forwarding.enqueue(
                event.sop_instance_uid, [(t, self._due(t.destination, now)) for t in targets], now)
        log.debug("queued %s for %s", event.sop_instance_uid,
                  ", ".join(t.destination for t in targets))
        self._bus.publish(ForwardQueued(tuple(t.destination for t in targets)))

    def _targets(self, rules: Sequence[ForwardRule]) -> list[ForwardTarget]:
        """One target per destination AE (by title when registered, else as the rule names it)."""
        targets: dict[str, ForwardTarget] = {}
        for rule in rules:
            destination = self._queue_key(rule.spec.destination)
            if destination not in self._warned and not self._known(destination):
                self._warned.add(destination)
                log.warning("forwarding rule %s: destination %s is not a registered AE; its "
                            "instances are queued until it is", rule.name, destination)
            targets.setdefault(destination, ForwardTarget(destination, rule.name))
        return list(targets.values())

    def _queue_key(self, name_or_title: str) -> str:
        """Jobs name a destination by its AE title when it is registered."""
        try:
            return self._registry.get(name_or_title).ae_title
        except NotFound:
            return name_or_title

    def _known(self, name_or_title: str) -> bool:
        try:
            self._registry.get(name_or_title)
        except NotFound:
            return False
        return True

    def _due(self, destination: str, now: datetime) -> datetime:
        with self._lock:
            resting = self._resting.get(destination)
        return resting if resting is not None and resting > now else now

    # -- the worker's side -------------------------------------------------------------------
    def due_destinations(self, exclude: Sequence[str] = ()) -> list[str]:
        """Destinations with jobs due now, the longest waiting first."""
        with self._uow.read() as repo:
            return repo.forwarding.due_destinations(utcnow(), exclude)

    def next_due(self, exclude: Sequence[str] = ()) -> datetime | None:
        """When the earliest pending job of a destination not excluded is due (or None)."""
        with self._uow.read() as repo:
            return repo.forwarding.next_due(exclude)

    def destination(self, name_or_title: str) -> RemoteAE:
        """The registered AE a job goes to; NotFound if it is not (or no longer) registered."""
        return self._registry.get(name_or_title)

    def claim(self, destination: str, limit: int) -> list[ForwardJob]:
        """Take up to ``limit`` due jobs of one destination for sending."""
        claim = uuid.uuid4().hex
        with self._uow.write() as repo:
            queued = repo.forwarding.claim(destination, utcnow(), limit, claim)
        jobs = []
        for item in queued:
            try:
                jobs.append(_job(item, self._store.path(item.relpath), claim))
            except StorageFailure as exc:
                self.fail(_job(item, Path(item.relpath), claim), str(exc))
        return jobs

    def complete(self, job: ForwardJob) -> None:
        """The destination stored the instance."""
        with self._uow.write() as repo:
            done = repo.forwarding.complete(job.pk, job.claim, utcnow())
        with self._lock:
            self._resting.pop(job.destination, None)
        if not done:
            log.info("%s was re-queued for %s while being sent; it is sent again",
                     job.sop_instance_uid, job.destination)

    def fail(self, job: ForwardJob, error: str) -> None:
        """One attempt failed: retry after the backoff, or give up after the last attempt."""
        now = utcnow()
        delay = self.policy.delay(job.attempts + 1)
        next_attempt = None if delay is None else now + timedelta(seconds=delay)
        with self._uow.write() as repo:
            repo.forwarding.reschedule(job.pk, job.claim, next_attempt, error[:MAX_ERROR_LENGTH],
                                       now)
        if next_attempt is None:
            log.error("forwarding %s to %s failed after %d attempts: %s", job.sop_instance_uid,
                      job.destination, job.attempts + 1, error)
        else:
            log.warning("forwarding %s to %s failed (attempt %d, next in %.0f s): %s",
                        job.sop_instance_uid, job.destination, job.attempts + 1, delay, error)

    def fail_destination(self, destination: str, jobs: Sequence[ForwardJob], error: str) -> None:
        """The destination could not be reached: the jobs back off, and its other pending
        jobs (and new ones) wait as long, so a dead peer is not called again and again."""
        for job in jobs:
            self.fail(job, error)
        attempts = min((job.attempts + 1 for job in jobs), default=1)
        delay = self.policy.delay(attempts)
        until = utcnow() + timedelta(seconds=self.policy.maximum if delay is None else delay)
        with self._uow.write() as repo:
            repo.forwarding.defer(destination, until)
        with self._lock:
            self._resting[destination] = until

    def release(self, jobs: Sequence[ForwardJob]) -> None:
        """Jobs that were claimed but not attempted (shutdown) go back to pending."""
        by_claim: dict[str, list[int]] = {}
        for job in jobs:
            by_claim.setdefault(job.claim, []).append(job.pk)
        with self._uow.write() as repo:
            for claim, pks in by_claim.items():
                repo.forwarding.release(pks, claim, utcnow())

    def reset_interrupted(self) -> int:
        """At worker start: jobs a stopped worker left in state sending become pending."""
        with self._uow.write() as repo:
            count = repo.forwarding.reset_interrupted(utcnow())
        if count:
            log.info("%d interrupted forwarding job(s) are pending again", count)
        return count

    # -- administration ----------------------------------------------------------------------
    def status(self) -> list[DestinationStatus]:
        """The queue per destination."""
        with self._uow.read() as repo:
            return repo.forwarding.status()

    def retry(self, destination: str | None = None) -> RetryResult:
        """Failed jobs start over (attempts reset) and waiting jobs become due now."""
        key = self._queue_key(destination) if destination else None
        with self._uow.write() as repo:
            reset, advanced = repo.forwarding.retry(key, utcnow())
        with self._lock:
            if key:
                self._resting.pop(key, None)
            else:
                self._resting.clear()
        log.info("forward retry%s: %d failed job(s) reset, %d waiting job(s) due now",
                 f" for {key}" if key else "", reset, advanced)
        return RetryResult(reset, advanced)


def _job(item: QueuedJob, path: Path, claim: str) -> ForwardJob:
    return ForwardJob(item.pk, item.destination, item.sop_instance_uid, item.sop_class_uid,
                      item.transfer_syntax_uid, path, item.size, item.attempts, claim)
