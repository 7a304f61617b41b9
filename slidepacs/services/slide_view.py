"""What the slide viewer needs to show a whole-slide series: its pyramid (every VOLUME level
with its tile geometry, and where each tile of a TILED_SPARSE level lies), the associated
images (label, overview, thumbnail) and the slide's identifiers and header fields.

Instance fields come from the index; tile positions and the pixel spacing from the stored
headers, through the rendering service (its tile-grid cache is shared with the rendered
route, so the geometry is read once and understood the same way) and a small cache of the
base level's header fields.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from pydicom.dataset import Dataset
from pydicom.uid import JPEGBaseline8Bit

from slidepacs.dicom.media_types import FRAME_MEDIA_TYPES
from slidepacs.domain.query import Condition, Level, Query, SingleValue, parse_condition
from slidepacs.errors import InvalidInput, NotFound
from slidepacs.index.find import MatchRow
from slidepacs.services.query import QueryService
from slidepacs.services.rendering import WSI_SOP_CLASS, RenderService
from slidepacs.services.retrieve import RetrieveItem, RetrieveService

ASSOCIATED = ("LABEL", "OVERVIEW", "THUMBNAIL")
CACHED_HEADERS = 256  # slides whose header fields are kept
# What a browser asks for a tile: JPEG Baseline frames as stored, any other kind transcoded
# to JPEG Baseline by the frames route (browsers decode no other DICOM frame syntax).
BROWSER_ACCEPT = "image/jpeg"
TRANSCODED_ACCEPT = f"image/jpeg; transfer-syntax={JPEGBaseline8Bit}"
PATIENT_KEYS = ("PatientID", "PatientName", "PatientBirthDate", "PatientSex")
STUDY_KEYS = ("StudyInstanceUID", "StudyDate", "StudyTime", "StudyDescription",
              "AccessionNumber", "StudyID")
SERIES_KEYS = ("SeriesInstanceUID", "SeriesNumber", "SeriesDescription", "Modality")


class SlideViewService:
    """Describes stored whole-slide series for the browser's slide viewer."""

    def __init__(self, query: QueryService, retrieve: RetrieveService,
                 rendering: RenderService) -> None:
        self._query = query
        self._retrieve = retrieve
        self._rendering = rendering
        self._headers: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def pyramid(self, study: str, series: str) -> dict[str, Any]:
        """The slide series as JSON: levels largest first, associated images, identifiers.
        NotFound for an unknown series; InvalidInput for a series that is no slide."""
        rows = self._query.find(_series_query(study, series))
        if not rows:
            raise NotFound(f"no series {series} in study {study}")
        slides = [row for row in rows if row.get("SOPClassUID") == WSI_SOP_CLASS]
        volumes = [row for row in slides if "VOLUME" in _flavours(row)]
        if not volumes:
            raise InvalidInput(f"series {series} is not a whole slide (no VL Whole Slide "
                               "Microscopy VOLUME instances; modality "
                               f"{rows[0].get('Modality') or 'none'})")
        volumes.sort(key=lambda row: -_area(row))
        levels = [self._level(study, series, row) for row in volumes]
        header = self._header_fields(
            self._retrieve.instances(study, series, volumes[0]["SOPInstanceUID"])[0])
        first = rows[0]
        associated = {kind.lower(): _first_of(slides, kind) for kind in ASSOCIATED}
        return {
            "study": study, "series": series,
            "levels": levels,
            **header,
            **associated,
            "slide_id": _first_value(volumes, "SlideID"),
            "case_id": _first_value(rows, "CaseID"),
            "barcode": _first_value(slides, "BarcodeValue"),
            "patient": {key: _text(first.get(key)) for key in PATIENT_KEYS},
            "study_fields": {key: _text(first.get(key)) for key in STUDY_KEYS},
            "series_fields": {key: _text(first.get(key)) for key in SERIES_KEYS},
            "study_slides": self._study_slides(study),
        }

    def _study_slides(self, study: str) -> list[dict[str, Any]]:
        """Every slide series of the study (to switch between them), by series number."""
        slides = parse_condition("Modality", "SM")
        assert slides is not None
        query = Query(Level.IMAGE, (*_uid_conditions(StudyInstanceUID=study), slides))
        found: dict[str, dict[str, Any]] = {}
        for row in self._query.find(query):
            if row.get("SOPClassUID") != WSI_SOP_CLASS:
                continue
            entry = found.setdefault(row["SeriesInstanceUID"], {
                "series": row["SeriesInstanceUID"], "number": row.get("SeriesNumber"),
                "description": _text(row.get("SeriesDescription")), "slide_id": "",
                "barcode": ""})
            if "VOLUME" in _flavours(row):
                entry["slide_id"] = entry["slide_id"] or _text(row.get("SlideID"))
            entry["barcode"] = entry["barcode"] or _text(row.get("BarcodeValue"))
        return sorted(found.values(), key=lambda entry: (entry["number"] is None,
                                                         entry["number"] or 0))

    def _header_fields(self, item: RetrieveItem) -> dict[str, Any]:
        """Pixel spacing, objective power, container and specimen from the base level's
        header, read once per stored file (files never change) and kept in a small cache."""
        key = str(item.path)
        with self._lock:
            if key in self._headers:
                self._headers.move_to_end(key)
                return self._headers[key]
        ds = self._retrieve.metadata(item)
        fields = {
            "pixel_spacing_mm": _pixel_spacing(ds),
            "objective_power": _number(_optical(ds, "ObjectiveLensPower")),
            "container_id": str(ds.get("ContainerIdentifier", "") or ""),
            "specimen": _specimen(ds),
        }
        with self._lock:
            self._headers[key] = fields
            while len(self._headers) > CACHED_HEADERS:
                self._headers.popitem(last=False)
        return fields

    def _level(self, study: str, series: str, row: MatchRow) -> dict[str, Any]:
        sop = row["SOPInstanceUID"]
        grid = self._rendering.grid(self._rendering.target(study, series, sop))
        syntax = str(row.get("TransferSyntaxUID") or "")
        level: dict[str, Any] = {
            "instance": sop,
            "width": grid.px_width, "height": grid.px_height,
            "tile_width": grid.tile_width, "tile_height": grid.tile_height,
            "frames": grid.frame_count,
            "transfer_syntax": syntax,
            "media_type": FRAME_MEDIA_TYPES.get(syntax, "application/octet-stream"),
            "accept": BROWSER_ACCEPT if syntax == JPEGBaseline8Bit else TRANSCODED_ACCEPT,
            "organization": "TILED_SPARSE" if grid.positions is not None else "TILED_FULL",
        }
        if grid.positions is not None:
            level["tiles"] = {f"{x},{y}": number
                              for (x, y), number in sorted(grid.positions.items())}
        return level


def _series_query(study: str, series: str) -> Query:
    return Query(Level.IMAGE, tuple(_uid_conditions(StudyInstanceUID=study,
                                                    SeriesInstanceUID=series)))


def _uid_conditions(**uids: str) -> list[Condition]:
    """Equal-match conditions on UIDs; InvalidInput naming the key of one that is not a UID."""
    conditions = []
    for keyword, uid in uids.items():
        condition = parse_condition(keyword, uid)
        if condition is None or not isinstance(condition.match, SingleValue):
            raise InvalidInput(f"{keyword} {uid!r} is not one UID")
        conditions.append(condition)
    return conditions


def _flavours(row: MatchRow) -> list[str]:
    return str(row.get("ImageType") or "").upper().split("\\")


def _area(row: MatchRow) -> int:
    return int(row.get("TotalPixelMatrixColumns") or row.get("Columns") or 0) * int(
        row.get("TotalPixelMatrixRows") or row.get("Rows") or 0)


def _first_of(rows: list[MatchRow], flavour: str) -> str | None:
    """The SOP Instance UID of the first instance whose Image Type names ``flavour``."""
    return next((row["SOPInstanceUID"] for row in rows if flavour in _flavours(row)), None)


def _first_value(rows: list[MatchRow], keyword: str) -> str:
    return next((_text(row.get(keyword)) for row in rows if row.get(keyword)), "")


def _text(value: object) -> str:
    return "" if value is None else str(value)


def _number(value: object) -> float | None:
    try:
        return float(str(value)) if value not in (None, "") else None
    except ValueError:
        return None


def _pixel_spacing(ds: Dataset) -> list[float] | None:
    """(row, column) spacing in mm of the shared Pixel Measures, else the top level's."""
    try:
        spacing = ds.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0].PixelSpacing
    except (AttributeError, IndexError):
        spacing = ds.get("PixelSpacing")
    if not spacing or len(spacing) != 2:
        return None
    return [float(spacing[0]), float(spacing[1])]


def _optical(ds: Dataset, keyword: str) -> object:
    for path in ds.get("OpticalPathSequence", []):
        if keyword in path:
            return path.get(keyword)
    return None


def _specimen(ds: Dataset) -> dict[str, str]:
    """The first specimen's identifier and descriptions."""
    for item in ds.get("SpecimenDescriptionSequence", []):
        return {key: _text(item.get(keyword)) for key, keyword in (
            ("identifier", "SpecimenIdentifier"),
            ("short_description", "SpecimenShortDescription"),
            ("detailed_description", "SpecimenDetailedDescription"))}
    return {"identifier": "", "short_description": "", "detailed_description": ""}
