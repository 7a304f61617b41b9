"""Print jobs as recorded: which films a print produced and where they are (pure records)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class PrintedFilm:
    """One rendered film of a job; file names relative to the job's folder."""

    film_uid: str
    film_size: str
    layout: str
    png: str
    pdf: str


@dataclass(frozen=True, slots=True)
class PrintJob:
    """A print job as recorded in the index."""

    job_uid: str
    created_at: datetime
    calling_ae: str
    address: str
    status: str
    colour: bool
    folder: str
    films: tuple[PrintedFilm, ...]
