"""The slide viewer's API under ``/viewer/api``: a whole-slide series' pyramid, associated
images, identifiers and the metadata its scanner posted, for any logged-in user (SPEC §7). Tiles themselves come from
WADO-RS frames."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from starlette.concurrency import run_in_threadpool

from slidepacs.bootstrap import AppContext
from slidepacs.web.access import AccessPolicy, Caller, SessionRequired


def slide_router(app: AppContext, policy: AccessPolicy) -> APIRouter:
    """Routes of the slide viewer."""
    router = APIRouter(tags=["browser UI: slide viewer"])
    logged_in = SessionRequired(policy)

    @router.get("/slides/{study}/{series}",
                summary="A slide series' pyramid levels, label/overview and identifiers")
    async def slide(study: str, series: str,
                    caller: Caller = Depends(logged_in)) -> dict[str, Any]:  # noqa: B008
        described = await run_in_threadpool(app.slide_view.pyramid, study, series)
        joined = await run_in_threadpool(app.scanners.metadata_of_series, series)
        described["scanner_metadata"] = [
            {"scanner": item.scanner, "image_id": item.image_id,
             "received_at": item.received_at.isoformat(), "metadata": item.payload}
            for item in joined]
        await run_in_threadpool(app.audit.record, caller.name, "slide.view",
                                f"{study}/{series}", "", caller.address)
        return described

    return router
