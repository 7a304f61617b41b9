"""The FastAPI application: DICOMweb under ``/dicom-web``, errors as clear HTTP statuses."""

from __future__ import annotations

import logging

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from slidepacs import __version__
from slidepacs.bootstrap import AppContext
from slidepacs.errors import (
    AccessDenied,
    Conflict,
    InvalidInput,
    NotFound,
    SlidepacsError,
    Unsupported,
)
from slidepacs.web.access import AccessPolicy
from slidepacs.web.admin_api import admin_router
from slidepacs.web.media import NotAcceptable
from slidepacs.web.multipart import PayloadTooLarge
from slidepacs.web.print_api import print_router
from slidepacs.web.qido import qido_router
from slidepacs.web.radiology_api import radiology_router
from slidepacs.web.rendered import rendered_router
from slidepacs.web.scanner_admin_api import scanner_admin_router
from slidepacs.web.session_api import API_PREFIX, session_router
from slidepacs.web.slide_api import slide_router
from slidepacs.web.stow import UnsupportedMediaType, stow_router
from slidepacs.web.study_api import study_list_router
from slidepacs.web.ui_files import mount_ui
from slidepacs.web.urls import PREFIX
from slidepacs.web.wado import wado_router

log = logging.getLogger(__name__)

# The most specific first: error type → HTTP status.
_STATUSES: list[tuple[type[Exception], int]] = [
    (PayloadTooLarge, 413),
    (UnsupportedMediaType, 415),
    (NotAcceptable, 406),
    (InvalidInput, 400),
    (AccessDenied, 403),
    (NotFound, 404),
    (Conflict, 409),
    (Unsupported, 501),
]


def create_app(context: AppContext) -> FastAPI:
    """The HTTP application over the archive's services."""
    access = AccessPolicy(context.settings.http, context.sessions)
    api = FastAPI(title="slidepacs", version=__version__,
                  description="DICOMweb (QIDO-RS, WADO-RS, STOW-RS) and the browser UI of the "
                              "slidepacs archive.")
    api.state.public_url = context.settings.http.public_url
    guarded = [Depends(access)]
    api.include_router(wado_router(context), prefix=PREFIX, dependencies=guarded)  # tiles first
    api.include_router(qido_router(context), prefix=PREFIX, dependencies=guarded)
    api.include_router(rendered_router(context), prefix=PREFIX, dependencies=guarded)
    api.include_router(stow_router(context, access), prefix=PREFIX, dependencies=guarded)
    api.include_router(session_router(context, access), prefix=API_PREFIX)
    api.include_router(study_list_router(context, access), prefix=API_PREFIX)
    api.include_router(admin_router(context, access), prefix=API_PREFIX)
    api.include_router(scanner_admin_router(context, access), prefix=API_PREFIX)
    api.include_router(radiology_router(context, access), prefix=API_PREFIX)
    api.include_router(slide_router(context, access), prefix=API_PREFIX)
    api.include_router(print_router(context, access), prefix=API_PREFIX)
    mount_ui(api)
    api.add_exception_handler(SlidepacsError, _error_response)  # type: ignore[arg-type]
    api.add_exception_handler(RequestValidationError, _validation_response)  # type: ignore[arg-type]
    return api


def status_of(error: SlidepacsError) -> int:
    """The HTTP status of a slidepacs error (500 for an unexpected kind)."""
    for kind, status in _STATUSES:
        if isinstance(error, kind):
            return status
    return 500


async def _error_response(request: Request, error: SlidepacsError) -> JSONResponse:
    status = status_of(error)
    if status >= 500:
        log.error("%s %s failed: %s", request.method, request.url.path, error)
    return JSONResponse({"detail": str(error)}, status_code=status)


async def _validation_response(request: Request, error: RequestValidationError) -> JSONResponse:
    problems = "; ".join(f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', '')}"
                         for e in error.errors())
    return JSONResponse({"detail": f"bad request ({problems})"}, status_code=400)
