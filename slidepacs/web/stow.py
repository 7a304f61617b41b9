"""STOW-RS (PS3.18 §10.5): store instances sent as multipart/related application/dicom,
through the same ingest service as every other entry point.

The body is read into one temporary file per part before anything is stored, so a body cut
short or malformed stores nothing: each DICOM part is parsed (from memory) and taken over by
ingest as soon as it is received, and all of them are indexed in one transaction once the
body is complete (or dropped if it is not), each instance with its own result.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

from fastapi import APIRouter, Depends, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydicom.dataset import Dataset

from slidepacs.bootstrap import AppContext
from slidepacs.dicom.status_codes import store_failure_code
from slidepacs.dicom.tag_values import read_tag_values
from slidepacs.errors import InvalidInput, SlidepacsError, Unsupported
from slidepacs.services.ingest import IngestFailure, IngestResult, ReceivedObject
from slidepacs.web.access import AccessPolicy, Caller
from slidepacs.web.media import DICOM, DICOM_JSON, MULTIPART_RELATED
from slidepacs.web.multipart import PayloadTooLarge, ReceivedPart, read_parts, remove_parts
from slidepacs.web.urls import dicomweb_base

log = logging.getLogger(__name__)
_UIDS = ("SOPClassUID", "SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID")


class UnsupportedMediaType(Unsupported):
    """A request body in a media type the route does not take (HTTP 415)."""


@dataclass(frozen=True, slots=True)
class PartResult:
    """What happened to one part: its UIDs (as far as known) and a failure code or 0."""

    uids: dict[str, str]
    failure: int = 0
    reason: str = ""


def stow_router(app: AppContext, access: AccessPolicy) -> APIRouter:
    """The STOW-RS routes, storing through ``app.ingest``."""
    router = APIRouter(tags=["STOW-RS"])
    limit = app.settings.http.max_upload_mb * 1024 * 1024

    async def store(request: Request, caller: Caller, study: str = "") -> Response:
        content_type = _checked_content_type(request)
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise PayloadTooLarge(f"the request body ({declared} bytes) exceeds the limit of "
                                  f"{limit} bytes (http.max_upload_mb)")
        source = f"stow:{caller.address}"
        prepared: dict[Path, ReceivedObject] = {}

        def prepare(part: ReceivedPart, content: memoryview | None) -> None:
            """Parse and take over each DICOM part as soon as it is received."""
            if _is_dicom(part):
                prepared[part.path] = app.ingest.prepare_received(
                    part.path, part.checksum, content, study or None, source)

        try:
            parts = await read_parts(request.stream(), content_type, app.ingest.incoming_file,
                                     limit, prepare)
        except BaseException:
            app.ingest.discard_received(prepared.values())
            raise
        results = await run_in_threadpool(_store_parts, app, parts, prepared, source)
        return _answer(results, dicomweb_base(request), study)

    @router.post("/studies", summary="Store instances")
    async def store_instances(request: Request,
                              caller: Caller = Depends(access)) -> Response:  # noqa: B008
        return await store(request, caller)

    @router.post("/studies/{study}", summary="Store instances of one study")
    async def store_study_instances(request: Request, study: str,
                                    caller: Caller = Depends(access)) -> Response:  # noqa: B008
        return await store(request, caller, study)

    return router


def _checked_content_type(request: Request) -> str:
    content_type = request.headers.get("content-type", "")
    media = content_type.split(";")[0].strip().lower()
    part_type = ""
    for parameter in content_type.split(";")[1:]:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "type":
            part_type = value.strip().strip('"').lower()
    if media != MULTIPART_RELATED or part_type not in ("", DICOM):
        raise UnsupportedMediaType(
            'STOW-RS takes multipart/related; type="application/dicom" bodies '
            f"(got {content_type or 'no Content-Type'})")
    return content_type


def _store_parts(app: AppContext, parts: list[ReceivedPart],
                 prepared: dict[Path, ReceivedObject], source: str) -> list[PartResult]:
    """Index the prepared DICOM parts in one transaction (each gets its own result, in the
    parts' order); every part's file is handed over to ingest or removed."""
    try:
        committed = dict(zip(prepared, app.ingest.commit_received(list(prepared.values()),
                                                                  source), strict=True))
        return [_result(app, part, committed.get(part.path)) for part in parts]
    except Exception:
        log.exception("STOW-RS request failed")
        app.ingest.discard_received(prepared.values())
        remove_parts(parts)
        raise


def _result(app: AppContext, part: ReceivedPart,
            outcome: IngestResult | IngestFailure | None) -> PartResult:
    """A part's result: stored, refused by ingest, or (no outcome) not a DICOM part."""
    if outcome is None:
        return _refused(app, part, InvalidInput(
            f"part of type {part.content_type!r} is not application/dicom"))
    if isinstance(outcome, IngestFailure):
        return _refused(app, part, outcome.error, outcome)
    return _stored(outcome)


def _is_dicom(part: ReceivedPart) -> bool:
    return part.content_type in ("", DICOM)


def _stored(result: IngestResult) -> PartResult:
    return PartResult({"SOPClassUID": result.sop_class_uid,
                       "SOPInstanceUID": result.sop_instance_uid,
                       "StudyInstanceUID": result.study_instance_uid,
                       "SeriesInstanceUID": result.series_instance_uid})


def _refused(app: AppContext, part: ReceivedPart, error: SlidepacsError,
             failure: IngestFailure | None = None) -> PartResult:
    """A refused part's result, with its UIDs as far as known, and its file removed (still
    there if refused before ingest took it over)."""
    uids = {"SOPClassUID": failure.sop_class_uid,
            "SOPInstanceUID": failure.sop_instance_uid} if failure else {}
    if part.path.exists() and _is_dicom(part):
        try:
            values = read_tag_values(part.path, _UIDS, app.settings.character_set.default)
            uids = {keyword: value[0] for keyword, value in values.items()}
        except SlidepacsError:
            pass
    part.path.unlink(missing_ok=True)
    log.info("STOW-RS part refused (%s): %s", uids.get("SOPInstanceUID") or "?", error)
    return PartResult({k: v for k, v in uids.items() if v}, store_failure_code(error),
                      str(error))


def _answer(results: list[PartResult], base: str, study: str) -> Response:
    """The Store Instances Response Module (PS3.18 Table 10.5.3-2) and its HTTP status."""
    response = Dataset()
    stored = [r for r in results if not r.failure]
    failed = [r for r in results if r.failure]
    if study:
        response.RetrieveURL = f"{base}/studies/{study}"
    response.ReferencedSOPSequence = [_reference(r, base) for r in stored]
    response.FailedSOPSequence = [_reference(r, base) for r in failed]
    if not response.ReferencedSOPSequence:
        del response.ReferencedSOPSequence
    if not response.FailedSOPSequence:
        del response.FailedSOPSequence
    status = 200 if not failed else 202 if stored else 409
    return Response(json.dumps(response.to_json_dict()), status_code=status,
                    media_type=DICOM_JSON)


def _reference(result: PartResult, base: str) -> Dataset:
    item = Dataset()
    item.ReferencedSOPClassUID = result.uids.get("SOPClassUID", "")
    item.ReferencedSOPInstanceUID = result.uids.get("SOPInstanceUID", "")
    if result.failure:
        item.FailureReason = result.failure
        return item
    item.RetrieveURL = (f"{base}/studies/{result.uids['StudyInstanceUID']}/series/"
                        f"{result.uids['SeriesInstanceUID']}/instances/"
                        f"{result.uids['SOPInstanceUID']}")
    return item
