"""The study list's API under ``/viewer/api``: searches in the SPEC §7 URL language and a
study's drill-down (whose every view goes to the audit log)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Depends, Request

from slidepacs.bootstrap import AppContext
from slidepacs.web.access import AccessPolicy, Caller, SessionRequired


def study_list_router(app: AppContext, policy: AccessPolicy) -> APIRouter:
    """``GET /studies`` and ``GET /studies/{uid}`` for any logged-in account."""
    router = APIRouter(tags=["browser UI: study list"])
    logged_in = SessionRequired(policy)

    @router.get("/studies", summary="Search studies with the list's URL keys and operators")
    def search(request: Request,
               caller: Caller = Depends(logged_in)) -> dict[str, Any]:  # noqa: B008
        parsed = app.study_list.parse(request.query_params.multi_items())
        return asdict(app.study_list.search(parsed))

    @router.get("/studies/{study_uid}", summary="A study with its series and instances")
    def detail(study_uid: str, caller: Caller = Depends(logged_in)) -> dict[str, Any]:  # noqa: B008
        found = app.study_list.detail(study_uid)
        app.audit.record(caller.name, "study.view", study_uid,
                         f"patient {found.study.patient_id}", caller.address)
        return asdict(found)

    return router
