"""The scanner API under ``/api/v1`` (docs/scanner-api.md): bearer-token authentication,
``GET /config`` with ETag, ``POST /heartbeat``, ``POST /images``.

Errors are ``{"detail": …}``: 401 (with ``WWW-Authenticate: Bearer``) for a missing or wrong
token, 413 for a body over ``scanner_api.max_metadata_kb``, 422 naming the field of a bad
body, 404 when the scanner was removed meanwhile.
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

from fastapi import Depends, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from slidepacs import __version__
from slidepacs.domain.scanners import Scanner
from slidepacs.errors import (
    InvalidInput,
    NotAuthenticated,
    NotFound,
    SlidepacsError,
)
from slidepacs.services.scanners import ScannerService

log = logging.getLogger(__name__)
PREFIX = "/api/v1"
_STATUSES: list[tuple[type[Exception], int]] = [
    (NotAuthenticated, 401), (InvalidInput, 422), (NotFound, 404)]


class BodyTooLarge(InvalidInput):
    """A request body over the configured limit."""


def create_scanner_app(scanners: ScannerService, max_body_bytes: int) -> FastAPI:
    """The scanner API over the scanner service."""
    api = FastAPI(title="slidepacs scanner API", version=__version__,
                  description="Configuration, heartbeats and image metadata of slide "
                              "scanners (docs/scanner-api.md).")

    def scanner(request: Request) -> Scanner:
        return scanners.authenticate(_bearer(request), _address(request))

    @api.get(f"{PREFIX}/config", summary="The scanner's configuration (ETag: its version)")
    def config(request: Request, caller: Scanner = Depends(scanner)) -> Response:  # noqa: B008
        document = scanners.config(caller)
        etag = config_etag(document)
        if etag in (tag.strip() for tag in request.headers.get("if-none-match", "").split(",")):
            return Response(status_code=304, headers={"ETag": etag})
        return JSONResponse(document, headers={"ETag": etag})

    @api.post(f"{PREFIX}/heartbeat", summary="A heartbeat: the scanner's clock and state")
    async def heartbeat(request: Request,
                        caller: Scanner = Depends(scanner)) -> dict[str, Any]:  # noqa: B008
        body = await _json_body(request, max_body_bytes)
        return await run_in_threadpool(scanners.heartbeat, caller, body, _address(request))

    @api.post(f"{PREFIX}/images", status_code=201, summary="Image metadata of one slide")
    async def images(request: Request,
                     caller: Scanner = Depends(scanner)) -> dict[str, Any]:  # noqa: B008
        body = await _json_body(request, max_body_bytes)
        return await run_in_threadpool(scanners.post_metadata, caller, body)

    api.add_exception_handler(SlidepacsError, _error_response)  # type: ignore[arg-type]
    return api


def _bearer(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


def _address(request: Request) -> str:
    return request.client.host if request.client else ""


async def _json_body(request: Request, limit: int) -> Any:
    """The request's JSON body; BodyTooLarge over ``limit`` bytes, InvalidInput if it is
    not JSON."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(f"body: larger than {limit // 1024} KiB (scanner_api.max_metadata_kb)")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(f"body: larger than {limit // 1024} KiB "
                               "(scanner_api.max_metadata_kb)")
        chunks.append(chunk)
    try:
        return json.loads(b"".join(chunks).decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidInput(f"body: not JSON in UTF-8 ({exc})") from None


async def _error_response(request: Request, error: SlidepacsError) -> JSONResponse:
    status = 413 if isinstance(error, BodyTooLarge) else next(
        (code for kind, code in _STATUSES if isinstance(error, kind)), 500)
    if status >= 500:
        log.error("scanner API %s %s failed: %s", request.method, request.url.path, error)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse({"detail": str(error)}, status_code=status, headers=headers)


def config_etag(document: dict[str, Any]) -> str:
    """``"<version>-<digest of the document>"``: the version says which change a scanner
    has, the digest makes the tag differ whenever the content does (a version can repeat
    after an AE's rules are removed and set again)."""
    digest = hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()[:16]
    return f'"{document["version"]}-{digest}"'
