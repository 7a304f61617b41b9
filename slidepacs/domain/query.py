"""The query model shared by export, C-FIND and QIDO-RS: DICOM matching (PS3.4 C.2.2.2).

A query is a set of conditions on attribute keywords. Each condition is one of the DICOM
matching kinds: single value, wildcard, range, list of UIDs. Universal matching is simply
the absence of a condition. Text matching of person names is case-insensitive.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from slidepacs.errors import InvalidInput


class Level(str, Enum):
    """Query/retrieve level."""

    PATIENT = "PATIENT"
    STUDY = "STUDY"
    SERIES = "SERIES"
    IMAGE = "IMAGE"


class KeyKind(str, Enum):
    """How values of a key are compared."""

    TEXT = "text"          # exact or wildcard, case-sensitive
    NAME = "name"          # person name: wildcard, case-insensitive
    DATE = "date"          # YYYYMMDD, ranges allowed
    TIME = "time"          # HHMMSS[.F], ranges allowed
    UID = "uid"            # exact, backslash-separated list allowed
    NUMBER = "number"      # integer string, exact


# Keyword → (level it lives at, kind). The index maps each keyword to a column.
KEYS: dict[str, tuple[Level, KeyKind]] = {
    "PatientID": (Level.PATIENT, KeyKind.TEXT),
    "IssuerOfPatientID": (Level.PATIENT, KeyKind.TEXT),
    "PatientName": (Level.PATIENT, KeyKind.NAME),
    "PatientBirthDate": (Level.PATIENT, KeyKind.DATE),
    "PatientSex": (Level.PATIENT, KeyKind.TEXT),
    "PatientComments": (Level.PATIENT, KeyKind.TEXT),
    "StudyInstanceUID": (Level.STUDY, KeyKind.UID),
    "StudyDate": (Level.STUDY, KeyKind.DATE),
    "StudyTime": (Level.STUDY, KeyKind.TIME),
    "AccessionNumber": (Level.STUDY, KeyKind.TEXT),
    "StudyID": (Level.STUDY, KeyKind.TEXT),
    "StudyDescription": (Level.STUDY, KeyKind.TEXT),
    "ReferringPhysicianName": (Level.STUDY, KeyKind.NAME),
    "ModalitiesInStudy": (Level.STUDY, KeyKind.TEXT),
    "SeriesInstanceUID": (Level.SERIES, KeyKind.UID),
    "Modality": (Level.SERIES, KeyKind.TEXT),
    "SeriesNumber": (Level.SERIES, KeyKind.NUMBER),
    "SeriesDate": (Level.SERIES, KeyKind.DATE),
    "SeriesTime": (Level.SERIES, KeyKind.TIME),
    "SeriesDescription": (Level.SERIES, KeyKind.TEXT),
    "BodyPartExamined": (Level.SERIES, KeyKind.TEXT),
    "SOPInstanceUID": (Level.IMAGE, KeyKind.UID),
    "SOPClassUID": (Level.IMAGE, KeyKind.UID),
    "InstanceNumber": (Level.IMAGE, KeyKind.NUMBER),
    "BarcodeValue": (Level.IMAGE, KeyKind.TEXT),
    "SlideID": (Level.IMAGE, KeyKind.TEXT),
    "CaseID": (Level.IMAGE, KeyKind.TEXT),
}

_LEVEL_ORDER = [Level.PATIENT, Level.STUDY, Level.SERIES, Level.IMAGE]


@dataclass(frozen=True, slots=True)
class SingleValue:
    """Exact match of one value."""

    value: str


@dataclass(frozen=True, slots=True)
class Wildcard:
    """Match with ``*`` (any run) and ``?`` (any one character)."""

    pattern: str


@dataclass(frozen=True, slots=True)
class Range:
    """Inclusive range; an empty bound is open."""

    low: str
    high: str


@dataclass(frozen=True, slots=True)
class UidList:
    """Match any of several UIDs."""

    values: tuple[str, ...]


Match = SingleValue | Wildcard | Range | UidList


@dataclass(frozen=True, slots=True)
class Condition:
    """One matching condition on one key."""

    keyword: str
    match: Match


@dataclass(frozen=True, slots=True)
class Query:
    """What to find, at which level, and how much of it."""

    level: Level
    conditions: tuple[Condition, ...] = ()
    limit: int | None = None
    offset: int = 0
    extra: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for condition in self.conditions:
            key_level = KEYS[condition.keyword][0]
            if _LEVEL_ORDER.index(key_level) > _LEVEL_ORDER.index(self.level):
                raise InvalidInput(
                    f"{condition.keyword} is a {key_level.value} key; "
                    f"it cannot be used in a {self.level.value} level query"
                )


def parse_condition(keyword: str, text: str) -> Condition | None:
    """Turn a DICOM-style value into a condition; ``None`` for universal matching."""
    if keyword not in KEYS:
        raise InvalidInput(f"{keyword!r} is not a supported query key")
    kind = KEYS[keyword][1]
    text = text.strip()
    if text in ("", "*"):
        return None
    if kind is KeyKind.UID:
        return Condition(keyword, _uid_match(keyword, text))
    if kind in (KeyKind.DATE, KeyKind.TIME) and "-" in text:
        low, _, high = text.partition("-")
        _check_temporal(keyword, kind, low)
        _check_temporal(keyword, kind, high)
        return Condition(keyword, Range(low, high))
    if kind in (KeyKind.DATE, KeyKind.TIME):
        _check_temporal(keyword, kind, text)
    if kind is KeyKind.NUMBER and not text.lstrip("+-").isdigit():
        raise InvalidInput(f"{keyword} value {text!r} is not an integer")
    if kind in (KeyKind.TEXT, KeyKind.NAME) and ("*" in text or "?" in text):
        return Condition(keyword, Wildcard(text))
    return Condition(keyword, SingleValue(text))


def _uid_match(keyword: str, text: str) -> Match:
    values = tuple(v.strip() for v in text.split("\\") if v.strip())
    for value in values:
        if not all(c.isdigit() or c == "." for c in value):
            raise InvalidInput(f"{keyword} value {value!r} is not a UID")
    return UidList(values) if len(values) > 1 else SingleValue(values[0])


def _check_temporal(keyword: str, kind: KeyKind, text: str) -> None:
    if not text:
        return
    body = text.replace(".", "", 1) if kind is KeyKind.TIME else text
    valid_length = len(text) == 8 if kind is KeyKind.DATE else 2 <= len(text.split(".")[0]) <= 6
    if not body.isdigit() or not valid_length:
        expected = "YYYYMMDD" if kind is KeyKind.DATE else "HHMMSS[.FFFFFF]"
        raise InvalidInput(f"{keyword} value {text!r} is not a {expected} value or range")
