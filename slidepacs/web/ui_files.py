"""The browser UI's files: the single page at ``/viewer/``, its scripts and styles, and
OpenSeadragon from the npm registry (``make run`` installs it; nothing of it is committed)."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response
from starlette.staticfiles import StaticFiles

UI_FOLDER = Path(__file__).parent / "ui"
STATIC_FOLDER = UI_FOLDER / "static"
OPENSEADRAGON_FOLDER = UI_FOLDER / "node_modules" / "openseadragon" / "build" / "openseadragon"
_PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": ("default-src 'self'; img-src 'self' data: blob:; "
                                "style-src 'self' 'unsafe-inline'; frame-ancestors 'self'; "
                                "base-uri 'none'; form-action 'self'"),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}


def mount_ui(api: FastAPI) -> None:
    """Serve the UI: ``/`` and ``/viewer`` lead to ``/viewer/``."""

    @api.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/viewer/")

    @api.get("/viewer", include_in_schema=False)
    def viewer_without_slash() -> RedirectResponse:
        return RedirectResponse("/viewer/")

    @api.get("/viewer/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(STATIC_FOLDER / "index.html", headers=_PAGE_HEADERS)

    if OPENSEADRAGON_FOLDER.is_dir():
        api.mount("/viewer/vendor/openseadragon",
                  StaticFiles(directory=OPENSEADRAGON_FOLDER), name="openseadragon")
    else:
        @api.get("/viewer/vendor/openseadragon/{path:path}", include_in_schema=False)
        def missing_openseadragon(path: str) -> Response:
            return JSONResponse({"detail": "OpenSeadragon is not installed: run `make run` "
                                 f"(npm ci in {UI_FOLDER})"}, status_code=503)
    api.mount("/viewer/static", StaticFiles(directory=STATIC_FOLDER), name="ui")
