"""Export a patient, a study or a query's result as a DICOMDIR file-set."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from slidepacs.dicom.dicomdir import write_file_set
from slidepacs.domain.query import Condition, Level, Query, SingleValue
from slidepacs.errors import NotFound
from slidepacs.index.unit_of_work import UnitOfWork
from slidepacs.storage import BlobStore


@dataclass(frozen=True, slots=True)
class ExportReport:
    """What an export wrote."""

    instances: int
    bytes: int
    target: Path


class ExportService:
    """Selects instances through the index and writes them with a DICOMDIR."""

    def __init__(self, unit_of_work: UnitOfWork, store: BlobStore) -> None:
        self._uow = unit_of_work
        self._store = store

    def export(
        self, query: Query, target: Path, progress: Callable[[Path], None] | None = None
    ) -> ExportReport:
        """Write every instance matching ``query`` to ``target`` as a file-set."""
        with self._uow.read() as repo:
            rows = repo.find_instances(query)
            relpaths = [(row.relpath, row.file_size) for row in rows]
        if not relpaths:
            raise NotFound("no stored instance matches the export selection")
        sources = [self._store.path(relpath) for relpath, _ in relpaths]
        write_file_set(sources, target, progress=progress)
        return ExportReport(len(sources), sum(size for _, size in relpaths), target)


def selection(
    patient_id: str | None = None,
    study_uid: str | None = None,
    conditions: tuple[Condition, ...] = (),
) -> Query:
    """The query for an export by patient ID, study UID and/or extra conditions."""
    chosen = list(conditions)
    if patient_id is not None:
        chosen.append(Condition("PatientID", SingleValue(patient_id)))
    if study_uid is not None:
        chosen.append(Condition("StudyInstanceUID", SingleValue(study_uid)))
    return Query(Level.IMAGE, tuple(chosen))
