"""Rows of print jobs (the DICOM print server's queue)."""

from __future__ import annotations

import json

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from slidepacs.domain.print_jobs import PrintedFilm, PrintJob
from slidepacs.index.tables import PrintJobTable
from slidepacs.index.times import aware


class PrintJobRepository:
    """Print jobs in the index (the caller's unit of work commits)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, job: PrintJob) -> None:
        """Record a job."""
        self.session.add(PrintJobTable(
            job_uid=job.job_uid, created_at=job.created_at, calling_ae=job.calling_ae[:16],
            address=job.address[:64], status=job.status, colour=job.colour, folder=job.folder,
            films=json.dumps([_film_dict(film) for film in job.films])))
        self.session.flush()

    def recent(self, limit: int) -> list[PrintJob]:
        """The newest jobs first."""
        statement = select(PrintJobTable).order_by(PrintJobTable.created_at.desc(),
                                                   PrintJobTable.pk.desc()).limit(limit)
        return [_job(row) for row in self.session.scalars(statement)]

    def get(self, job_uid: str) -> PrintJob | None:
        """One job, or None."""
        row = self.session.scalar(select(PrintJobTable).where(PrintJobTable.job_uid == job_uid))
        return None if row is None else _job(row)

    def remove(self, job_uid: str) -> bool:
        """Delete a job's row; False if there was none."""
        result = self.session.execute(delete(PrintJobTable).where(
            PrintJobTable.job_uid == job_uid))
        return bool(result.rowcount)


def _film_dict(film: PrintedFilm) -> dict[str, str]:
    return {"film_uid": film.film_uid, "film_size": film.film_size, "layout": film.layout,
            "png": film.png, "pdf": film.pdf}


def _job(row: PrintJobTable) -> PrintJob:
    films = tuple(PrintedFilm(**item) for item in json.loads(row.films))
    return PrintJob(row.job_uid, aware(row.created_at), row.calling_ae, row.address, row.status,
                    bool(row.colour), row.folder, films)
