"""URLs of DICOMweb resources, as they appear in answers (RetrieveURL, BulkDataURI)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import Request

from slidepacs.domain.query import Level

PREFIX = "/dicom-web"


def dicomweb_base(request: Request) -> str:
    """The absolute URL of the DICOMweb root as the client sees it (no trailing slash):
    ``http.public_url`` when configured (behind a reverse proxy), else the request's Host;
    a Host without a port (some clients send one) gets the port the request came in on."""
    public = request.app.state.public_url
    if public:
        return public.rstrip("/") + PREFIX
    url = request.base_url
    server = request.scope.get("server")
    default = 443 if url.scheme == "https" else 80
    if url.port is None and server and server[1] and server[1] != default:
        url = url.replace(port=server[1])
    return str(url).rstrip("/") + PREFIX


def retrieve_url(base: str, match: Mapping[str, Any], level: Level) -> str:
    """The WADO-RS URL of a study, series or instance match."""
    url = f"{base}/studies/{match['StudyInstanceUID']}"
    if level in (Level.SERIES, Level.IMAGE):
        url += f"/series/{match['SeriesInstanceUID']}"
    if level is Level.IMAGE:
        url += f"/instances/{match['SOPInstanceUID']}"
    return url
