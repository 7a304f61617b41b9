"""WADO-RS rendered and thumbnail resources (PS3.18 §9.5, §9.6; parameters §8.3.5): stored
images as JPEG or PNG for browsers — a radiology frame through its LUTs and window, a region
of a whole-slide level at a scale — and small thumbnails of instances, series and studies."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from fastapi import APIRouter, Request, Response

from slidepacs.bootstrap import AppContext
from slidepacs.domain.rendering import (
    JPEG,
    RENDERED_MEDIA_TYPES,
    THUMBNAIL_SIZE,
    NotRenderable,
    Viewport,
    render_params,
)
from slidepacs.errors import InvalidInput
from slidepacs.services.rendering import RenderTarget
from slidepacs.web.media import NotAcceptable, parse_accept
from slidepacs.web.ranges import not_modified

# a rendering changes only with a new version of the instance (a new file: a new ETag)
RENDERED_CACHING = "private, max-age=86400"
THUMBNAIL_VIEWPORT = Viewport(THUMBNAIL_SIZE, THUMBNAIL_SIZE)
INSTANCE = "/studies/{study}/series/{series}/instances/{sop}"


def rendered_router(app: AppContext) -> APIRouter:
    """The rendered and thumbnail routes, answered from ``app.rendering``."""
    router = APIRouter(tags=["WADO-RS rendered"])

    def answer(request: Request, target_of: Callable[[], RenderTarget],
               default_viewport: Viewport | None = None) -> Response:
        media = rendered_media(request)
        params = render_params(dict(request.query_params), media, default_viewport)
        target = target_of()
        etag = rendered_etag(target, request.url.query, media)
        headers = {"ETag": etag, "Cache-Control": RENDERED_CACHING, "Vary": "Accept"}
        if not_modified(request, etag):
            return Response(status_code=304, headers=headers)
        try:
            body = app.rendering.render(target, params)
        except NotRenderable as exc:
            raise NotAcceptable(str(exc)) from None
        return Response(body, media_type=media, headers=headers)

    @router.get(INSTANCE + "/rendered", summary="An instance rendered as JPEG or PNG")
    def instance_rendered(request: Request, study: str, series: str, sop: str) -> Response:
        return answer(request, lambda: app.rendering.target(study, series, sop))

    @router.get(INSTANCE + "/frames/{frames}/rendered", summary="A frame rendered")
    def frame_rendered(request: Request, study: str, series: str, sop: str,
                       frames: str) -> Response:
        number = _one_frame(frames)
        return answer(request, lambda: app.rendering.target(study, series, sop, number))

    @router.get(INSTANCE + "/thumbnail", summary="A thumbnail of an instance")
    def instance_thumbnail(request: Request, study: str, series: str, sop: str) -> Response:
        return answer(request, lambda: app.rendering.instance_thumbnail_target(
            study, series, sop), THUMBNAIL_VIEWPORT)

    @router.get(INSTANCE + "/frames/{frames}/thumbnail", summary="A thumbnail of a frame")
    def frame_thumbnail(request: Request, study: str, series: str, sop: str,
                        frames: str) -> Response:
        number = _one_frame(frames)
        return answer(request, lambda: app.rendering.target(study, series, sop, number),
                      THUMBNAIL_VIEWPORT)

    @router.get("/studies/{study}/series/{series}/thumbnail",
                summary="A thumbnail of a series")
    def series_thumbnail(request: Request, study: str, series: str) -> Response:
        return answer(request, lambda: app.rendering.thumbnail_target(study, series),
                      THUMBNAIL_VIEWPORT)

    @router.get("/studies/{study}/thumbnail", summary="A thumbnail of a study")
    def study_thumbnail(request: Request, study: str) -> Response:
        return answer(request, lambda: app.rendering.thumbnail_target(study),
                      THUMBNAIL_VIEWPORT)

    return router


def rendered_media(request: Request) -> str:
    """image/jpeg or image/png, as the ``accept`` query parameter (which takes precedence,
    PS3.18 §8.3.3.1) or the Accept header asks; NotAcceptable for anything else."""
    wanted = request.query_params.get("accept") or request.headers.get("accept")
    for media in parse_accept(wanted):
        if media.type in ("*/*", "image/*"):
            return JPEG
        if media.type in RENDERED_MEDIA_TYPES:
            return media.type
    raise NotAcceptable("rendered images are sent as image/jpeg (the default) or image/png")


def rendered_etag(target: RenderTarget, query: str, media: str) -> str:
    """An entity tag naming the stored file, the frame, the parameters and the media type."""
    key = f"{target.item.path.name}|{target.frame}|{query}|{media}"
    return f'"{hashlib.sha256(key.encode()).hexdigest()[:32]}"'


def _one_frame(text: str) -> int:
    """The frame number of a rendered frame request; several frames would need a
    multi-frame media type (video, GIF), which is not supported."""
    fields = [field.strip() for field in text.split(",")]
    if not all(field.isdigit() and int(field) >= 1 for field in fields):
        raise InvalidInput(f"frame list {text!r} must be frame numbers from 1, separated by "
                           "commas")
    if len(fields) > 1:
        raise NotAcceptable("several frames rendered need a multi-frame media type (video/*, "
                            "image/gif), which is not supported; ask for one frame")
    return int(fields[0])
