"""Bodies that are byte ranges of stored files: Range requests (RFC 9110 §14), ETags and
long-lived caching of immutable content."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi import Request, Response
from fastapi.responses import StreamingResponse

from slidepacs.web.multipart import file_chunks

IMMUTABLE = "private, max-age=31536000, immutable"
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def not_modified(request: Request, etag: str) -> bool:
    """True when the client already holds this version (If-None-Match)."""
    held = request.headers.get("if-none-match", "")
    return held.strip() == "*" or etag in [tag.strip() for tag in held.split(",")]


def byte_range_response(request: Request, path: Path, offset: int, length: int,
                        media_type: str, etag: str) -> Response:
    """``length`` bytes of ``path`` from ``offset``, or the part a single Range asks for."""
    headers = {"ETag": etag, "Cache-Control": IMMUTABLE, "Accept-Ranges": "bytes"}
    if not_modified(request, etag):
        return Response(status_code=304, headers=headers)
    wanted = request.headers.get("range")
    if_range = request.headers.get("if-range")
    # several ranges at once are not supported: ignored, the whole value is sent (RFC 9110)
    if wanted and "," not in wanted and (if_range is None or if_range.strip() == etag):
        span = _span(wanted, length)
        if span is None:
            return Response(status_code=416, headers={**headers,
                                                      "Content-Range": f"bytes */{length}"})
        first, last = span
        headers["Content-Range"] = f"bytes {first}-{last}/{length}"
        headers["Content-Length"] = str(last - first + 1)
        return StreamingResponse(file_chunks(path, offset + first, last - first + 1),
                                 status_code=206, media_type=media_type, headers=headers)
    headers["Content-Length"] = str(length)
    return StreamingResponse(file_chunks(path, offset, length), media_type=media_type,
                             headers=headers)


def _span(header: str, length: int) -> tuple[int, int] | None:
    """(first, last) byte of a single ``bytes=`` range; None when it cannot be satisfied."""
    match = _RANGE.match(header.strip().replace(" ", ""))
    if not match or not (match.group(1) or match.group(2)):
        return None
    if not match.group(1):  # a suffix: the last N bytes
        count = int(match.group(2))
        return (max(length - count, 0), length - 1) if count and length else None
    first = int(match.group(1))
    last = min(int(match.group(2)), length - 1) if match.group(2) else length - 1
    return (first, last) if first <= last and first < length else None
