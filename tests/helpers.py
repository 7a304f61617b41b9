"""Small helpers shared by tests."""

from __future__ import annotations

import os
from pathlib import Path

from slidepacs.bootstrap import AppContext


def stored_files(app: AppContext) -> dict[Path, list[str]]:
    """Relative paths of every file (including temporaries) in each storage location; the
    empty spare files made ahead for receiving are left out."""
    listing: dict[Path, list[str]] = {}
    for location in app.store.locations:
        names = []
        for folder, _dirs, files in os.walk(location):
            for name in files:
                rel = os.path.relpath(os.path.join(folder, name), location)
                if not rel.startswith(("logs", "index.sqlite", ".incoming/spare.")):
                    names.append(rel)
        listing[location] = sorted(names)
    return listing


def counts(app: AppContext) -> tuple[int, int, int, int]:
    """(patients, studies, series, instances) in the index."""
    with app.unit_of_work.read() as repo:
        c = repo.counts()
    return c.patients, c.studies, c.series, c.instances


def received_files(folder: Path) -> list[Path]:
    """The files of data sets being (or left) received in an incoming folder: the empty
    spare files storage makes ahead for receivers are left out."""
    return sorted(p for p in folder.iterdir() if not p.name.startswith("spare."))


def temporaries(folder: Path) -> list[Path]:
    """Temporary files anywhere under ``folder``, but for the empty spare files storage
    makes ahead for receivers."""
    return sorted(p for p in folder.rglob("*.tmp") if not p.name.startswith("spare."))
