"""Verify every indexed file in every storage location; repair from a good copy."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from slidepacs.errors import StorageFailure
from slidepacs.index.repository import IndexedFile
from slidepacs.index.unit_of_work import UnitOfWork
from slidepacs.storage import CopyProblem, MirroredFileStore


@dataclass(slots=True)
class VerifyReport:
    """Outcome of a storage verification."""

    files: int = 0
    bytes: int = 0
    problems: list[CopyProblem] = field(default_factory=list)
    repaired: list[CopyProblem] = field(default_factory=list)
    unrepairable: list[CopyProblem] = field(default_factory=list)  # problem says why
    temporary_removed: int = 0

    @property
    def clean(self) -> bool:
        """True when every copy matched (or was repaired)."""
        return len(self.repaired) == len(self.problems)


class StorageCheckService:
    """Compares files in the data and backup paths with the checksums in the index."""

    def __init__(self, unit_of_work: UnitOfWork, store: MirroredFileStore) -> None:
        self._uow = unit_of_work
        self._store = store

    def verify(
        self, repair: bool = False, progress: Callable[[IndexedFile], None] | None = None
    ) -> VerifyReport:
        """Check every copy; with ``repair``, restore bad copies from a good one.

        A file bad in every location is reported as unrepairable whether or not ``repair``
        is asked for. Repair first removes temporary files left by interrupted writes.
        """
        report = VerifyReport()
        if repair:
            report.temporary_removed = self._store.sweep_temporary()
        with self._uow.read() as repo:
            files = list(repo.iter_files())
        for indexed in files:
            problems = self._store.check(indexed.relpath, indexed.size, indexed.checksum)
            report.files += 1
            report.bytes += indexed.size
            report.problems.extend(problems)
            if len(problems) == len(self._store.locations):
                report.unrepairable.extend(_because(p, "no good copy in any location")
                                           for p in problems)
            elif repair and problems:
                self._repair(indexed, problems, report)
            if progress:
                progress(indexed)
        return report

    def _repair(
        self, indexed: IndexedFile, problems: list[CopyProblem], report: VerifyReport
    ) -> None:
        bad = {p.location for p in problems}
        good = [loc for loc in self._store.locations if loc not in bad]
        source = self._store.resolve(good[0], indexed.relpath)
        for problem in problems:
            try:
                self._store.restore(indexed.relpath, source, problem.location)
            except StorageFailure as exc:
                report.unrepairable.append(_because(problem, str(exc)))
                continue
            report.repaired.append(problem)
            if indexed.current:
                self._record_copy(indexed.sop_instance_uid, problem.location)

    def _record_copy(self, sop_instance_uid: str, location: Path) -> None:
        with self._uow.write() as repo:
            location_pk = repo.location_pks([str(location)])[0]
            repo.record_copy(sop_instance_uid, location_pk)


def _because(problem: CopyProblem, reason: str) -> CopyProblem:
    """The same bad copy, its problem extended with why it was not repaired."""
    return CopyProblem(problem.location, problem.relpath, f"{problem.problem}; {reason}")
