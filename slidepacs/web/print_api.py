"""The print server's jobs for the browser UI: ``/viewer/api/print`` (any logged-in role)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import FileResponse

from slidepacs.bootstrap import AppContext
from slidepacs.domain.print_jobs import PrintJob
from slidepacs.errors import NotFound
from slidepacs.web.access import AccessPolicy, SessionRequired


def print_router(app: AppContext, policy: AccessPolicy) -> APIRouter:
    """List jobs, show one, and serve a film's PNG or PDF."""
    router = APIRouter(tags=["browser UI: print jobs"],
                       dependencies=[Depends(SessionRequired(policy))])

    @router.get("/print/jobs", summary="Print jobs, newest first")
    def jobs(limit: int = 100) -> list[dict[str, Any]]:
        return [_job(job) for job in app.printing.jobs(max(1, min(limit, 1000)))]

    @router.get("/print/jobs/{job_uid}", summary="One print job")
    def job(job_uid: str) -> dict[str, Any]:
        return _job(app.printing.job(job_uid))

    @router.get("/print/jobs/{job_uid}/films/{number}.{kind}",
                summary="A printed film as PNG or PDF (number from 1)")
    def film(job_uid: str, number: int, kind: str) -> FileResponse:
        found = app.printing.job(job_uid)
        if kind not in ("png", "pdf") or not 1 <= number <= len(found.films):
            raise NotFound(f"no film {number}.{kind} in print job {job_uid!r}")
        printed = found.films[number - 1]
        name = printed.png if kind == "png" else printed.pdf
        return FileResponse(app.printing.folder_of(found) / name,
                            media_type="image/png" if kind == "png" else "application/pdf")

    return router


def _job(job: PrintJob) -> dict[str, Any]:
    return {"job_uid": job.job_uid, "created_at": job.created_at.isoformat(),
            "calling_ae": job.calling_ae, "address": job.address, "status": job.status,
            "colour": job.colour,
            "films": [{"film_uid": film.film_uid, "film_size": film.film_size,
                       "layout": film.layout} for film in job.films]}
