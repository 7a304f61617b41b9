"""The print queue: a film that cannot be written leaves neither files nor a job."""

from __future__ import annotations

import numpy as np
import pytest

from slidepacs.bootstrap import AppContext
from slidepacs.domain.film import film_spec
from slidepacs.errors import InvalidInput, StorageFailure
from slidepacs.imaging.film_render import BoxImage
from slidepacs.services.printing import FilmToPrint, PrintService


def _film(number: int) -> FilmToPrint:
    spec = film_spec({"ImageDisplayFormat": "STANDARD\\1,1"})
    return FilmToPrint(f"1.2.{number}", spec, {1: BoxImage(np.zeros((4, 4), np.uint8))})


def test_a_failed_write_removes_the_written_films_and_records_no_job(app: AppContext) -> None:
    queue = app.settings.storage.data_path / "print-queue"
    service = PrintService(app.unit_of_work, app.audit, queue, 50)
    first = _film(1)
    broken = FilmToPrint("1.2.2", first.spec, {1: BoxImage(np.zeros((4, 4, 2), np.uint8))})
    with pytest.raises(Exception):
        service.print_films([first, broken], False, "CT01", "")
    assert service.jobs() == []
    assert not queue.exists() or not any(queue.iterdir())


def test_an_unwritable_queue_is_a_storage_failure_and_no_job(app: AppContext) -> None:
    blocker = app.settings.storage.data_path / "not-a-folder"
    blocker.write_text("x")
    service = PrintService(app.unit_of_work, app.audit, blocker, 50)
    with pytest.raises(StorageFailure):
        service.print_films([_film(1)], False, "CT01", "")
    assert service.jobs() == []


@pytest.mark.parametrize("display", ["SLIDE", "STANDARD\\0,2", "ROW\\a", "STANDARD\\9,9"])
def test_unsupported_layouts_are_refused(display: str) -> None:
    with pytest.raises(InvalidInput):
        film_spec({"ImageDisplayFormat": display})
