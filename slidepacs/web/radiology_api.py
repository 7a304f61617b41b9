"""The radiology viewer's API under ``/viewer/api``: a series' images in display order with
their display attributes (any logged-in role, as DICOMweb is)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from slidepacs.bootstrap import AppContext
from slidepacs.web.access import AccessPolicy, SessionRequired


def radiology_router(app: AppContext, policy: AccessPolicy) -> APIRouter:
    """The routes of the radiology viewer."""
    router = APIRouter(tags=["browser UI: radiology viewer"],
                       dependencies=[Depends(SessionRequired(policy))])

    @router.get("/radiology/studies/{study}/series/{series}",
                summary="A series' images in display order, with what shapes their display")
    def series_images(study: str, series: str) -> dict[str, Any]:
        return app.series_images.series(study, series).as_json()

    return router
