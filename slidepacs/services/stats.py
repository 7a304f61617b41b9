"""Archive statistics: rows per level and bytes per storage location."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from slidepacs.index.repository import IndexCounts
from slidepacs.index.unit_of_work import UnitOfWork
from slidepacs.storage import MirroredFileStore


@dataclass(frozen=True, slots=True)
class ArchiveStats:
    """Counts from the index and usage of each storage location."""

    counts: IndexCounts
    location_bytes: dict[Path, int]


def archive_stats(unit_of_work: UnitOfWork, store: MirroredFileStore) -> ArchiveStats:
    """Collect the archive's statistics."""
    with unit_of_work.read() as repo:
        counts = repo.counts()
    return ArchiveStats(counts, store.usage())
