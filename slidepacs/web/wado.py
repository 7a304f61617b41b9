"""WADO-RS (PS3.18 §10.4): studies, series and instances as stored, their metadata as DICOM
JSON with bulk data by reference, and top-level bulk data by byte range."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse
from pydicom.datadict import dictionary_VR
from pydicom.dataset import Dataset
from starlette.concurrency import run_in_threadpool

from slidepacs.bootstrap import AppContext
from slidepacs.dicom.media_types import FRAME_MEDIA_TYPES
from slidepacs.dicom.tag_values import BULK_DATA_VRS
from slidepacs.errors import InvalidInput
from slidepacs.imaging.transcode import CannotTranscode, can_transcode
from slidepacs.services.frames import FrameLocation
from slidepacs.services.retrieve import RetrieveItem
from slidepacs.web.media import (
    DEFAULT_FRAME_SYNTAX,
    DICOM,
    DICOM_JSON,
    EXPLICIT_VR_LITTLE_ENDIAN,
    IMPLICIT_LE,
    MULTIPART_RELATED,
    NATIVE_SYNTAXES,
    OCTET_STREAM,
    NotAcceptable,
    parse_accept,
)
from slidepacs.web.multipart import (
    OutgoingPart,
    file_chunks,
    new_boundary,
    related_type,
    stream_parts,
)
from slidepacs.web.ranges import byte_range_response, not_modified
from slidepacs.web.urls import dicomweb_base

BULK_DATA_THRESHOLD = 1024  # values longer than this are sent by reference (BulkDataURI)
MAX_FRAMES_PER_REQUEST = 10_000
FRAMES_IN_ONE_BODY = 16  # up to this many frames are sent as one body, else streamed
# frames change only if a new version of the instance is stored: the ETag names the file
FRAME_CACHING = "private, max-age=86400"
PIXEL_DATA = 0x7FE00010


def wado_router(app: AppContext) -> APIRouter:
    """The WADO-RS retrieve, metadata and bulk data routes, answered from ``app.retrieve``."""
    router = APIRouter(tags=["WADO-RS"])

    # the tile path first: routes are matched in order, and this one is asked most
    @router.get("/studies/{study}/series/{series}/instances/{sop}/frames/{frames}",
                summary="Frames of an instance, as stored (transcoded only when Accept asks "
                        "for another transfer syntax)")
    async def retrieve_frames(request: Request, study: str, series: str, sop: str,
                              frames: str) -> Response:
        # The tile path: on the event loop (one indexed lookup, one positioned read of a
        # page-cached file); only a frame map not yet cached is loaded in a worker thread.
        numbers = _frame_numbers(frames)
        location = (app.frames.locate_mapped(study, series, sop, numbers)
                    or await run_in_threadpool(app.frames.locate, study, series, sop, numbers))
        wanted = _frame_media(request, location.transfer_syntax_uid, len(numbers))
        etag = f'"{location.path.name}:{frames}:{wanted.syntax}"'
        headers = {"ETag": etag, "Cache-Control": FRAME_CACHING}
        if not_modified(request, etag):
            return Response(status_code=304, headers=headers)
        if wanted.transcoded:
            return await run_in_threadpool(_transcoded, app, location, wanted, headers)
        if not wanted.multipart:
            return Response(app.frames.read(location, numbers[0]), media_type=wanted.media,
                            headers=headers)
        if len(numbers) <= FRAMES_IN_ONE_BODY:
            return _frames_body(app.frames.read_all(location), wanted, headers)
        return _frames_multipart(app, location, wanted.media, headers)

    def instances(request: Request, study: str, series: str = "", sop: str = "") -> Response:
        items = app.retrieve.instances(study, series, sop)
        _check_dicom_accept(request, {item.transfer_syntax_uid for item in items})
        boundary = new_boundary()
        parts = (OutgoingPart(f"{DICOM}; transfer-syntax={item.transfer_syntax_uid}",
                              lambda path=item.path: file_chunks(path)) for item in items)
        return StreamingResponse(stream_parts(parts, boundary),
                                 media_type=related_type(DICOM, boundary))

    def metadata(request: Request, study: str, series: str = "", sop: str = "") -> Response:
        _check_json_accept(request)
        items = app.retrieve.instances(study, series, sop)
        base = dicomweb_base(request)
        return StreamingResponse(_json_array(app, items, base), media_type=DICOM_JSON)

    @router.get("/studies/{study}", summary="Retrieve a study")
    def retrieve_study(request: Request, study: str) -> Response:
        return instances(request, study)

    @router.get("/studies/{study}/series/{series}", summary="Retrieve a series")
    def retrieve_series(request: Request, study: str, series: str) -> Response:
        return instances(request, study, series)

    @router.get("/studies/{study}/series/{series}/instances/{sop}",
                summary="Retrieve an instance")
    def retrieve_instance(request: Request, study: str, series: str, sop: str) -> Response:
        return instances(request, study, series, sop)

    @router.get("/studies/{study}/metadata", summary="Metadata of a study's instances")
    def study_metadata(request: Request, study: str) -> Response:
        return metadata(request, study)

    @router.get("/studies/{study}/series/{series}/metadata",
                summary="Metadata of a series' instances")
    def series_metadata(request: Request, study: str, series: str) -> Response:
        return metadata(request, study, series)

    @router.get("/studies/{study}/series/{series}/instances/{sop}/metadata",
                summary="Metadata of an instance")
    def instance_metadata(request: Request, study: str, series: str, sop: str) -> Response:
        return metadata(request, study, series, sop)

    @router.get("/studies/{study}/series/{series}/instances/{sop}/bulkdata/{tag}",
                summary="A top-level bulk data value of an instance")
    def bulkdata(request: Request, study: str, series: str, sop: str, tag: str) -> Response:
        if _tag(tag) == PIXEL_DATA:
            return _pixel_data(app, request, app.frames.locate(study, series, sop, None))
        [item] = app.retrieve.instances(study, series, sop)
        offset, length = app.retrieve.bulk_range(item, _tag(tag))
        return _bulk_value(request, item.path, offset, length, f'"{item.path.name}:{tag}"')

    return router


def _frames_body(frames: Iterable[tuple[int, bytes]], wanted: FrameMedia,
                 headers: dict[str, str]) -> Response:
    """Frames as one body built in memory: a single part's bytes, or multipart/related
    (a streamed body costs a worker-thread hand-off per chunk)."""
    if not wanted.multipart:
        [(_number, data)] = frames
        return Response(data, media_type=wanted.media, headers=headers)
    boundary = new_boundary()
    part_type = f"{wanted.media}; transfer-syntax={wanted.syntax}"
    parts = [OutgoingPart(part_type, lambda data=data: [data]) for _number, data in frames]
    return Response(b"".join(stream_parts(parts, boundary)), headers=headers,
                    media_type=related_type(wanted.media, boundary))


def _transcoded(app: AppContext, location: FrameLocation, wanted: FrameMedia,
                headers: dict[str, str]) -> Response:
    """The located frames decoded and encoded in the asked syntax (in a worker thread)."""
    try:
        app.transcoding.check(location, wanted.syntax)
        frames = app.transcoding.frames(location, wanted.syntax)
    except CannotTranscode as exc:
        raise NotAcceptable(str(exc)) from None
    return _frames_body(frames, wanted, headers)


def _frames_multipart(app: AppContext, location: FrameLocation, media: str,
                      headers: dict[str, str] | None = None) -> StreamingResponse:
    """The located frames, one part each, as stored, read as they are sent."""
    boundary = new_boundary()
    part_type = f"{media}; transfer-syntax={location.transfer_syntax_uid}"
    parts = (OutgoingPart(part_type, lambda data=data: [data])
             for _number, data in app.frames.read_all(location))
    return StreamingResponse(stream_parts(parts, boundary), headers=headers,
                             media_type=related_type(media, boundary))


def _pixel_data(app: AppContext, request: Request, location: FrameLocation) -> Response:
    """Pixel Data by its BulkDataURI: native data as one value (Range requests work),
    encapsulated data as its frames, one part each, as stored."""
    pieces = [piece for frame in (location.pieces or {}).values() for piece in frame]
    contiguous = all(a[0] + a[1] == b[0] for a, b in zip(pieces, pieces[1:]))
    if location.transfer_syntax_uid in NATIVE_SYNTAXES and pieces and contiguous:
        start, (last, last_length) = pieces[0][0], pieces[-1]
        return _bulk_value(request, location.path, start, last + last_length - start,
                           f'"{location.path.name}:pixels"')
    wanted = _frame_media(request, location.transfer_syntax_uid, len(pieces))
    if wanted.transcoded:
        raise NotAcceptable("Pixel Data is sent in its stored transfer syntax "
                            f"({location.transfer_syntax_uid}); ask for its frames to have "
                            "them in another")
    return _frames_multipart(app, location, wanted.media)


def _bulk_value(request: Request, path: Path, offset: int, length: int,
                etag: str) -> Response:
    """A value of a stored file as multipart/related (the standard's form) or, when the
    client takes plain application/octet-stream, as one body with Range support."""
    if _bulk_as_multipart(request):
        boundary = new_boundary()
        part = OutgoingPart(OCTET_STREAM, lambda: file_chunks(path, offset, length))
        return StreamingResponse(stream_parts([part], boundary),
                                 media_type=related_type(OCTET_STREAM, boundary))
    return byte_range_response(request, path, offset, length, OCTET_STREAM, etag=etag)


def _frame_numbers(text: str) -> list[int]:
    """Frame numbers of a frame list such as ``1,3,4`` (from 1, in the order asked)."""
    numbers = []
    for item in text.split(","):
        if not item.strip().isdigit() or int(item) < 1:
            raise InvalidInput(f"frame list {text!r} must be frame numbers from 1, "
                               "separated by commas")
        numbers.append(int(item))
    if len(numbers) > MAX_FRAMES_PER_REQUEST:
        raise InvalidInput(f"at most {MAX_FRAMES_PER_REQUEST} frames per request")
    return numbers


@dataclass(frozen=True, slots=True)
class FrameMedia:
    """How frames are sent: media type, multipart or one plain body, transfer syntax, and
    whether that syntax means decoding and encoding the stored frames again."""

    media: str
    multipart: bool
    syntax: str
    transcoded: bool = False


def _frame_media(request: Request, syntax: str, count: int) -> FrameMedia:
    """How to send frames stored in ``syntax``, from the best Accept range that can be met:
    as stored (their own media type, or application/octet-stream for native data) in
    multipart/related as the standard has it, or as one plain body when one frame is asked
    with a plain media type (browsers, tile viewers); else transcoded when a range names
    another syntax (or a media type whose default syntax differs). NotAcceptable when none
    can be met."""
    stored = FRAME_MEDIA_TYPES.get(syntax, OCTET_STREAM)
    for media in parse_accept(request.headers.get("accept")):
        wanted = media.transfer_syntax
        if wanted in ("", "*", syntax) or _same_bytes(wanted, syntax):
            label = wanted if wanted not in ("", "*") else syntax
            if media.type in ("*/*", "multipart/*") or media.related(stored):
                return FrameMedia(stored, True, label)
            if media.related(OCTET_STREAM) and wanted == "*":  # raw bytes of compressed frames
                return FrameMedia(OCTET_STREAM, True, label)
            if count == 1 and media.type in (stored, f"{stored.split('/')[0]}/*"):
                return FrameMedia(stored, False, label)
        multipart = media.type == MULTIPART_RELATED
        target_media = media.part_type if multipart else media.type
        target = wanted if wanted not in ("", "*") else DEFAULT_FRAME_SYNTAX.get(target_media, "")
        if ((multipart or count == 1) and target
                and FRAME_MEDIA_TYPES.get(target, OCTET_STREAM) == target_media
                and can_transcode(syntax, target)):
            return FrameMedia(target_media, multipart, target, transcoded=True)
    raise NotAcceptable(f"frames are stored as {stored} (transfer syntax {syntax}); they can "
                        "be sent as stored or as Explicit VR Little Endian, JPEG Baseline "
                        "(8-bit), JPEG-LS lossless or JPEG 2000 lossless")


def _same_bytes(wanted: str, stored: str) -> bool:
    """Native little-endian frames are the same bytes in implicit and explicit VR."""
    return {wanted, stored} == {IMPLICIT_LE, EXPLICIT_VR_LITTLE_ENDIAN}


def _json_array(app: AppContext, items: Sequence[RetrieveItem], base: str) -> Iterator[bytes]:
    """A JSON array of instance metadata, streamed one instance at a time."""
    yield b"["
    for number, item in enumerate(items):
        dataset = app.retrieve.metadata(item)
        yield (b"," if number else b"") + json.dumps(
            instance_json(dataset, _instance_url(base, dataset)), ensure_ascii=False
        ).encode()
    yield b"]"


def instance_json(dataset: Dataset, instance_url: str) -> dict[str, Any]:
    """DICOM JSON of an instance: long top-level binary values and Pixel Data by reference
    (BulkDataURI); nested ones inline, as a reference could not name their place."""
    by_reference = [tag for tag in dataset.keys()
                    if tag.group != 0x0002 and _is_bulk(dataset.get_item(tag))]
    inline = Dataset()
    inline.update({tag: dataset[tag] for tag in dataset.keys() if tag not in by_reference})
    body = inline.to_json_dict(bulk_data_threshold=2**62)
    for tag in by_reference:
        raw = dataset.get_item(tag)
        body[f"{tag:08X}"] = {"vr": _vr(raw), "BulkDataURI": f"{instance_url}/bulkdata/{tag:08X}"}
    if "Rows" in dataset:  # an image: its Pixel Data was not read
        encapsulated = _transfer_syntax(dataset) not in NATIVE_SYNTAXES
        vr = "OB" if encapsulated or int(dataset.get("BitsAllocated", 8)) <= 8 else "OW"
        body[f"{PIXEL_DATA:08X}"] = {"vr": vr,
                                     "BulkDataURI": f"{instance_url}/bulkdata/{PIXEL_DATA:08X}"}
    return body


def _is_bulk(raw: Any) -> bool:
    length = getattr(raw, "length", None)
    if length is None:  # an element pydicom already converted
        value = getattr(raw, "value", None)
        length = len(value) if isinstance(value, (bytes, bytearray)) else 0
    return _vr(raw) in BULK_DATA_VRS and BULK_DATA_THRESHOLD < length != 0xFFFFFFFF


def _vr(raw: Any) -> str:
    if raw.VR:
        return str(raw.VR)
    try:
        return str(dictionary_VR(raw.tag))
    except KeyError:
        return "UN"


def _transfer_syntax(dataset: Dataset) -> str:
    meta = getattr(dataset, "file_meta", None)
    return str(meta.get("TransferSyntaxUID", "")) if meta is not None else ""


def _instance_url(base: str, dataset: Dataset) -> str:
    return (f"{base}/studies/{dataset.StudyInstanceUID}/series/{dataset.SeriesInstanceUID}"
            f"/instances/{dataset.SOPInstanceUID}")


def _tag(text: str) -> int:
    if len(text) != 8 or any(c not in "0123456789abcdefABCDEF" for c in text):
        raise InvalidInput(f"bulk data tag {text!r} is not 8 hexadecimal digits")
    return int(text, 16)


def _check_dicom_accept(request: Request, stored: set[str]) -> None:
    """The request must accept multipart/related application/dicom in a stored syntax (no
    transcoding yet); NotAcceptable otherwise."""
    for media in parse_accept(request.headers.get("accept")):
        if media.type in ("*/*", "multipart/*") or media.related(DICOM):
            wanted = media.transfer_syntax
            if wanted in ("", "*") or stored == {wanted}:
                return
    raise NotAcceptable(
        "instances are sent as multipart/related; type=\"application/dicom\" in their stored "
        f"transfer syntax ({', '.join(sorted(stored))}); transcoding is not supported")


def _check_json_accept(request: Request) -> None:
    if not any(m.allows(DICOM_JSON) or m.allows("application/json")
               for m in parse_accept(request.headers.get("accept"))):
        raise NotAcceptable("metadata is sent as application/dicom+json")


def _bulk_as_multipart(request: Request) -> bool:
    """Bulk data goes as multipart/related (the standard's form) when the best accepted
    range asks for it, else as one application/octet-stream body (Range requests work)."""
    for media in parse_accept(request.headers.get("accept")):
        if media.related(OCTET_STREAM):
            return True
        if media.allows(OCTET_STREAM):
            return False
    raise NotAcceptable("bulk data is sent as application/octet-stream")
