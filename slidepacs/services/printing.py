"""The print queue: renders printed films to files, records jobs, lists and deletes them."""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from pydicom.uid import generate_uid

from slidepacs.domain.film import FilmSpec
from slidepacs.domain.print_jobs import PrintedFilm, PrintJob
from slidepacs.errors import NotFound, StorageFailure
from slidepacs.imaging.film_render import BoxImage, render_film, write_film
from slidepacs.index.unit_of_work import UnitOfWork
from slidepacs.services.accounts import AuditService

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FilmToPrint:
    """A film box ready to print: its layout and the images of its boxes."""

    film_uid: str
    spec: FilmSpec
    images: dict[int, BoxImage]


class PrintService:
    """Renders films into ``<queue>/<job uid>/`` and records the job in the index."""

    def __init__(self, unit_of_work: UnitOfWork, audit: AuditService, queue: Path,
                 dpi: int) -> None:
        self._uow = unit_of_work
        self._audit = audit
        self.queue = queue
        self.dpi = dpi

    def print_films(self, films: list[FilmToPrint], colour: bool, calling_ae: str,
                    address: str) -> PrintJob:
        """Render every film to PNG and PDF, then record the job. If anything fails, the
        job's folder is removed and nothing is recorded (no half-written job)."""
        job_uid = str(generate_uid())
        folder = self.queue / job_uid
        printed: list[PrintedFilm] = []
        try:
            for number, film in enumerate(films, start=1):
                pixels = render_film(film.spec, film.images, self.dpi, colour)
                png, pdf = write_film(pixels, folder, f"film-{number:02d}", self.dpi)
                del pixels
                printed.append(PrintedFilm(film.film_uid, film.spec.film_size,
                                           film.spec.display_format, png.name, pdf.name))
            job = PrintJob(job_uid, datetime.now(timezone.utc), calling_ae, address, "DONE",
                           colour, job_uid, tuple(printed))
            with self._uow.write() as repo:
                repo.print_jobs.add(job)
        except OSError as exc:  # e.g. the queue is not a folder (write_atomically's clean-up
            shutil.rmtree(folder, ignore_errors=True)  # can raise before its StorageFailure)
            raise StorageFailure(f"cannot write print job {job_uid} in {self.queue} "
                                 f"({exc.strerror or exc})") from None
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        log.info("print job %s from %s: %d film(s) in %s", job_uid, calling_ae, len(printed),
                 folder)
        return job

    def jobs(self, limit: int = 100) -> list[PrintJob]:
        """The newest jobs first."""
        with self._uow.read() as repo:
            return repo.print_jobs.recent(limit)

    def job(self, job_uid: str) -> PrintJob:
        """One job; NotFound if unknown."""
        with self._uow.read() as repo:
            job = repo.print_jobs.get(job_uid)
        if job is None:
            raise NotFound(f"no print job {job_uid!r}")
        return job

    def folder_of(self, job: PrintJob) -> Path:
        """Where a job's files are."""
        return self.queue / job.folder

    def delete(self, job_uid: str, actor: str, address: str = "") -> None:
        """Remove a job's files and record (audited); NotFound if unknown."""
        job = self.job(job_uid)
        with self._uow.write() as repo:
            if not repo.print_jobs.remove(job_uid):
                raise NotFound(f"no print job {job_uid!r}")
            repo.audit.add(actor, "print.delete", job_uid,
                           f"{len(job.films)} film(s) from {job.calling_ae}", address)
        shutil.rmtree(self.folder_of(job), ignore_errors=True)
