"""QIDO-RS (PS3.18 §10.6): search for studies, series and instances, answered from the index
with the same matching as C-FIND."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request, Response
from pydicom.datadict import keyword_for_tag, tag_for_keyword

from slidepacs.bootstrap import AppContext
from slidepacs.dicom.match_values import ALIASES, ATTRIBUTE_OF_FIELD, match_dataset
from slidepacs.domain.query import KEYS, KeyKind, Level, Query, parse_condition
from slidepacs.errors import InvalidInput
from slidepacs.services.query import QueryService
from slidepacs.web.media import DICOM_JSON, NotAcceptable, parse_accept
from slidepacs.web.urls import dicomweb_base, retrieve_url

MAX_LIMIT = 10_000
# extra search keys (any case) for the slide fields, besides their DICOM keywords
_SLIDE_KEYS = {"slideid": "SlideID", "caseid": "CaseID", "barcode": "BarcodeValue",
               "barcodevalue": "BarcodeValue", "containeridentifier": "SlideID"}
_RESERVED = {"limit", "offset", "includefield", "fuzzymatching"}
# index fields that are not returned as attributes of a match
_NOT_RETURNED = {"SpecificCharacterSet", "TransferSyntaxUID", "CaseID"}


@dataclass(frozen=True, slots=True)
class Search:
    """A parsed QIDO-RS request: the query and the attributes to return."""

    query: Query
    include: tuple[str, ...]
    fuzzy_ignored: bool


def qido_router(app: AppContext) -> APIRouter:
    """The QIDO-RS routes, answered from ``app.query``."""
    router = APIRouter(tags=["QIDO-RS"])

    def answer(request: Request, level: Level, **fixed: str) -> Response:
        _accept_json(request)
        search = parse_search(request.query_params.multi_items(), level, fixed)
        matches = app.query.find(search.query)
        base = dicomweb_base(request)
        body = [_match_json(match, level, search.include, base) for match in matches]
        headers = {"Warning": '299 slidepacs "fuzzymatching is not supported; ignored"'} \
            if search.fuzzy_ignored else {}
        return Response(_dumps(body), media_type=DICOM_JSON, headers=headers)

    @router.get("/studies", summary="Search for studies")
    def search_studies(request: Request) -> Response:
        return answer(request, Level.STUDY)

    @router.get("/series", summary="Search for series")
    def search_series(request: Request) -> Response:
        return answer(request, Level.SERIES)

    @router.get("/instances", summary="Search for instances")
    def search_instances(request: Request) -> Response:
        return answer(request, Level.IMAGE)

    @router.get("/studies/{study}/series", summary="Search for series of a study")
    def search_study_series(request: Request, study: str) -> Response:
        return answer(request, Level.SERIES, StudyInstanceUID=study)

    @router.get("/studies/{study}/instances", summary="Search for instances of a study")
    def search_study_instances(request: Request, study: str) -> Response:
        return answer(request, Level.IMAGE, StudyInstanceUID=study)

    @router.get("/studies/{study}/series/{series}/instances",
                summary="Search for instances of a series")
    def search_series_instances(request: Request, study: str, series: str) -> Response:
        return answer(request, Level.IMAGE, StudyInstanceUID=study, SeriesInstanceUID=series)

    return router


def parse_search(
    parameters: Sequence[tuple[str, str]], level: Level, fixed: dict[str, str]
) -> Search:
    """The query a QIDO-RS request asks for; InvalidInput naming the first bad parameter."""
    values: dict[str, str] = {}
    include: list[str] = []
    limit: int | None = None
    offset = 0
    fuzzy = False
    for name, value in parameters:
        lowered = name.lower()
        if lowered == "limit":
            limit = _number(name, value, 0, MAX_LIMIT)
        elif lowered == "offset":
            offset = _number(name, value, 0, 2**31)
        elif lowered == "includefield":
            include += [_include_keyword(v.strip()) for v in value.split(",") if v.strip()]
        elif lowered == "fuzzymatching":
            fuzzy = _boolean(name, value)
        else:
            keyword = _search_keyword(name, level)
            repeated_uids = keyword in values and KEYS[keyword][1] is KeyKind.UID
            if (keyword in values and not repeated_uids) or keyword in fixed:
                raise InvalidInput(f"query parameter {name!r} is given more than once")
            value = _uid_list(keyword, value)
            values[keyword] = f"{values[keyword]}\\{value}" if repeated_uids else value
    conditions = []
    for keyword, value in {**values, **fixed}.items():
        try:
            condition = parse_condition(keyword, value)
        except InvalidInput as exc:
            raise InvalidInput(f"query parameter {keyword}: {exc}") from None
        if condition is not None:
            conditions.append(condition)
    query = Query(level, tuple(conditions), limit=limit if limit is not None else MAX_LIMIT,
                  offset=offset)
    return Search(query, tuple(include), fuzzy)


def _search_keyword(name: str, level: Level) -> str:
    """The index key a search parameter names (a keyword, a tag, or a slide key)."""
    keyword = _SLIDE_KEYS.get(name.lower()) or _keyword(name)
    keyword = ALIASES.get(keyword, keyword)
    if keyword == "Modality" and level is Level.STUDY:
        keyword = "ModalitiesInStudy"
    if keyword not in KEYS:
        raise InvalidInput(f"query parameter {name!r} is not a supported search key")
    return keyword


def _keyword(name: str) -> str:
    if len(name) == 8 and all(c in "0123456789abcdefABCDEF" for c in name):
        keyword = keyword_for_tag(int(name, 16))
        if keyword:
            return keyword
    if tag_for_keyword(name) is None:
        raise InvalidInput(f"query parameter {name!r} is not a DICOM keyword, tag or "
                           "search parameter")
    return name


def _include_keyword(value: str) -> str:
    if value.lower() == "all":
        return "all"
    return _keyword(value)


def _uid_list(keyword: str, value: str) -> str:
    """QIDO-RS lists UIDs separated by commas (or repeats the parameter); the query model
    separates them with backslashes."""
    if KEYS[keyword][1] is KeyKind.UID:
        return value.replace(",", "\\")
    return value


def _number(name: str, value: str, low: int, high: int) -> int:
    if not value.strip().isdigit() or not low <= int(value) <= high:
        raise InvalidInput(f"query parameter {name!r} must be an integer from {low} to {high}")
    return int(value)


def _boolean(name: str, value: str) -> bool:
    if value.lower() not in ("true", "false"):
        raise InvalidInput(f"query parameter {name!r} must be true or false")
    return value.lower() == "true"


def _accept_json(request: Request) -> None:
    ranges = parse_accept(request.headers.get("accept"))
    if not any(r.allows(DICOM_JSON) or r.allows("application/json") for r in ranges):
        raise NotAcceptable("QIDO-RS answers in application/dicom+json only")


def _match_json(match: dict[str, Any], level: Level, include: Sequence[str],
                base: str) -> dict[str, Any]:
    fields = [ATTRIBUTE_OF_FIELD.get(k, k) for k in QueryService.returned_keys(level)
              if k not in _NOT_RETURNED]
    extra = [k for k in include if k != "all" and k not in fields]
    dataset = match_dataset(match, fields + extra)
    if match.get("TransferSyntaxUID"):
        dataset.AvailableTransferSyntaxUID = match["TransferSyntaxUID"]
    if level is not Level.PATIENT:
        dataset.RetrieveURL = retrieve_url(base, match, level)
    return dataset.to_json_dict()


def _dumps(body: list[dict[str, Any]]) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
