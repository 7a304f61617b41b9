"""``/viewer/api/print``: print jobs for any logged-in account, nothing without a session."""

from __future__ import annotations

import httpx
import numpy as np

from slidepacs.domain.film import film_spec
from slidepacs.imaging.film_render import BoxImage
from slidepacs.services.printing import FilmToPrint
from tests.web.conftest import Web
from tests.web.test_sessions import base_of, client, log_in  # noqa: F401


def test_print_jobs_are_listed_and_their_films_served_to_a_logged_in_user(
        client: httpx.Client, web: Web) -> None:  # noqa: F811
    spec = film_spec({"ImageDisplayFormat": "STANDARD\\1,1"})
    job = web.app.printing.print_films(
        [FilmToPrint("1.2.3", spec, {1: BoxImage(np.full((4, 4), 7, np.uint8))})],
        False, "CT01", "10.0.0.5")
    assert client.get("/viewer/api/print/jobs").status_code == 401
    log_in(client)
    listed = client.get("/viewer/api/print/jobs")
    assert listed.status_code == 200
    [entry] = listed.json()
    assert entry["job_uid"] == job.job_uid and entry["calling_ae"] == "CT01"
    png = client.get(f"/viewer/api/print/jobs/{job.job_uid}/films/1.png")
    assert png.status_code == 200 and png.content.startswith(b"\x89PNG")
    pdf = client.get(f"/viewer/api/print/jobs/{job.job_uid}/films/1.pdf")
    assert pdf.headers["content-type"] == "application/pdf"
    assert client.get(f"/viewer/api/print/jobs/{job.job_uid}/films/2.png").status_code == 404
    assert client.get("/viewer/api/print/jobs/1.2.999").status_code == 404
