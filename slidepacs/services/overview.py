"""What the admin pages show of the archive: counts, storage usage and recent errors."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from slidepacs.index.repository import IndexCounts
from slidepacs.index.unit_of_work import UnitOfWork
from slidepacs.services.accounts import AuditService
from slidepacs.services.forwarding import ForwardingService
from slidepacs.services.quarantine import QuarantineService
from slidepacs.storage import MirroredFileStore

RECENT_ERRORS = 20


@dataclass(frozen=True, slots=True)
class LocationUsage:
    """One storage location: its role, bytes of stored files, disk space, instance copies."""

    role: str  # "data" or "backup 1", "backup 2"
    path: Path
    used_bytes: int
    disk_free_bytes: int | None
    disk_total_bytes: int | None
    instances: int


@dataclass(frozen=True, slots=True)
class RecentError:
    """Something that went wrong, as a service or the audit log knows it."""

    at: datetime | None
    source: str  # quarantine, forwarding, login
    summary: str


@dataclass(frozen=True, slots=True)
class Dashboard:
    """Counts, usage per location, arrivals in the last hour and recent errors."""

    counts: IndexCounts
    received_last_hour: int
    locations: list[LocationUsage]
    errors: list[RecentError]


class ArchiveOverview:
    """Reads the figures of the dashboard and the storage page (it changes nothing)."""

    def __init__(self, unit_of_work: UnitOfWork, store: MirroredFileStore,
                 quarantine: QuarantineService, forwarding: ForwardingService,
                 audit: AuditService) -> None:
        self._uow = unit_of_work
        self._store = store
        self._quarantine = quarantine
        self._forwarding = forwarding
        self._audit = audit

    def dashboard(self, now: datetime | None = None) -> Dashboard:
        """The dashboard's figures; ``now`` defaults to the current time."""
        now = now or datetime.now(timezone.utc)
        with self._uow.read() as repo:
            counts = repo.counts()
            last_hour = repo.received_since(now - timedelta(hours=1))
        return Dashboard(counts, last_hour, self.locations(), self.recent_errors())

    def locations(self) -> list[LocationUsage]:
        """Every storage location, the data path first."""
        with self._uow.read() as repo:
            copies = repo.instances_per_location()
        usage = self._store.usage()
        found = []
        for number, location in enumerate(self._store.locations):
            try:
                disk = shutil.disk_usage(location)
                free, total = disk.free, disk.total
            except OSError:
                free = total = None
            found.append(LocationUsage("data" if number == 0 else f"backup {number}", location,
                                       usage.get(location, 0), free, total,
                                       copies.get(str(location), 0)))
        return found

    def recent_errors(self, limit: int = RECENT_ERRORS) -> list[RecentError]:
        """Quarantined files, forwarding failures and failed log-ins, newest first."""
        errors = [RecentError(entry.received_at, "quarantine",
                              f"{entry.original_name} from {entry.ae_title}: {entry.reason}")
                  for entry in self._quarantine.entries()[-limit:]]
        errors += [RecentError(status.last_error_at, "forwarding",
                               f"{status.destination}: {status.last_error}"
                               + (f" ({status.failed} failed)" if status.failed else ""))
                   for status in self._forwarding.status() if status.last_error]
        errors += [RecentError(entry.at, "login",
                               f"{entry.actor} from {entry.address or 'unknown address'}: "
                               f"{entry.detail or 'failed log-in'}")
                   for entry in self._audit.recent(limit, action="login.failed")]
        oldest = datetime.min.replace(tzinfo=timezone.utc)
        errors.sort(key=lambda error: error.at or oldest, reverse=True)
        return errors[:limit]
