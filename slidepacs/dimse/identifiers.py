"""C-FIND / C-GET / C-MOVE identifiers ↔ the domain query model and match rows."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

from slidepacs.dicom.match_values import ALIASES, match_dataset
from slidepacs.domain.query import KEYS, Condition, Level, Query, parse_condition
from slidepacs.errors import InvalidInput

log = logging.getLogger(__name__)
PATIENT_ROOT = "patient"
STUDY_ROOT = "study"
RESPONSE_CHARSET = "ISO_IR 192"
_IGNORED = {"QueryRetrieveLevel", "SpecificCharacterSet", "RetrieveAETitle", "TimezoneOffsetFromUTC"}


def query_from_identifier(identifier: Dataset, model: str, limit: int | None = None) -> Query:
    """The query an identifier asks for; InvalidInput when the level is missing or wrong."""
    level = _level(identifier, model)
    conditions = []
    for keyword in _keywords(identifier):
        key = ALIASES.get(keyword, keyword)
        if key not in KEYS or keyword in _IGNORED:
            continue
        if _depth(KEYS[key][0]) > _depth(level):
            log.debug("ignoring %s: below the %s level", keyword, level.value)
            continue
        condition = parse_condition(key, _text(identifier, keyword))
        if condition is not None:
            conditions.append(condition)
    return Query(level, tuple(_unique(conditions)), limit=limit)


def response_identifier(match: dict[str, Any], identifier: Dataset, level: Level, ae_title: str) -> Dataset:
    """A pending C-FIND response: the requested keys, filled from the match."""
    response = Dataset()
    response.SpecificCharacterSet = RESPONSE_CHARSET
    response.QueryRetrieveLevel = level.value
    response.RetrieveAETitle = ae_title
    own = ("QueryRetrieveLevel", "SpecificCharacterSet", "RetrieveAETitle")
    response.update(match_dataset(match, [k for k in _keywords(identifier) if k not in own]))
    return response


def _level(identifier: Dataset, model: str) -> Level:
    text = str(identifier.get("QueryRetrieveLevel", "")).strip().upper()
    try:
        level = Level(text)
    except ValueError:
        raise InvalidInput(f"Query/Retrieve Level {text!r} is not PATIENT/STUDY/SERIES/IMAGE") from None
    if model == STUDY_ROOT and level is Level.PATIENT:
        raise InvalidInput("the Study Root model has no PATIENT level")
    return level


def _keywords(identifier: Dataset) -> Iterable[str]:
    for element in identifier:
        if element.keyword and element.tag.group != 0x0002:
            yield element.keyword


def _text(identifier: Dataset, keyword: str) -> str:
    value = identifier[keyword].value
    if value is None:
        return ""
    if isinstance(value, (list, MultiValue)):
        return "\\".join(str(v) for v in value)
    return str(value)


def _depth(level: Level) -> int:
    return [Level.PATIENT, Level.STUDY, Level.SERIES, Level.IMAGE].index(level)


def _unique(conditions: list[Condition]) -> list[Condition]:
    seen: dict[str, Condition] = {}
    for condition in conditions:
        seen.setdefault(condition.keyword, condition)
    return list(seen.values())
