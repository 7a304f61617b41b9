"""Translate the domain query model into SQL (DICOM matching rules, PS3.4 C.2.2.2)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Select, and_, bindparam, or_, select

from slidepacs.domain.names import name_key
from slidepacs.domain.query import (
    KEYS,
    Condition,
    KeyKind,
    Query,
    Range,
    SingleValue,
    UidList,
    Wildcard,
)
from slidepacs.errors import InvalidInput
from slidepacs.index.columns import SEARCH_COLUMNS
from slidepacs.index.tables import Instance, Patient, Series, Study

def instance_select(query: Query) -> Select[tuple[Instance]]:
    """SELECT of the instances matching every condition, in a stable order."""
    statement = (
        select(Instance)
        .join(Series, Series.pk == Instance.series_pk)
        .join(Study, Study.pk == Series.study_pk)
        .join(Patient, Patient.pk == Study.patient_pk)
        .where(*[condition_clause(c) for c in query.conditions])
        .order_by(Study.pk, Series.pk, Instance.instance_number, Instance.pk)
    )
    if query.offset:
        statement = statement.offset(query.offset)
    if query.limit is not None:
        statement = statement.limit(query.limit)
    return statement


def condition_clause(condition: Condition, column: Any = None) -> ColumnElement[bool]:
    """The WHERE clause for one condition (on its usual column unless ``column`` is given)."""
    column = SEARCH_COLUMNS[condition.keyword] if column is None else column
    kind = KEYS[condition.keyword][1]
    match = condition.match
    if condition.keyword == "PatientName" and column is Patient.patient_name_key:
        return _patient_name_clause(match)
    if kind is KeyKind.NAME:
        return _name_clause(column, match)
    if kind is KeyKind.NUMBER and isinstance(match, SingleValue):
        return column == int(match.value)
    if isinstance(match, SingleValue):
        return column == match.value
    if isinstance(match, Wildcard):
        return like(column, like_pattern(match.pattern))
    if isinstance(match, UidList):
        return column.in_(match.values)
    if isinstance(match, Range):
        return _range_clause(column, match)
    raise InvalidInput(f"unsupported match for {condition.keyword}")


def _range_clause(column: Any, match: Range) -> ColumnElement[bool]:
    parts = [column != ""]
    if match.low:
        parts.append(column >= match.low)
    if match.high:
        parts.append(column <= match.high + ("\uffff" if len(match.high) < 8 else ""))
    return and_(*parts)


_PATIENT_NAME_GROUPS = (
    Patient.patient_name_key, Patient.patient_name_ideographic_key, Patient.patient_name_phonetic_key
)


def _patient_name_clause(match: Any) -> ColumnElement[bool]:
    """Patient names match on any component group (each has its own indexed key column);
    a value with several groups must match each of them."""
    groups = name_key(_name_text(match)).split("=")
    if len(groups) == 1:
        return or_(*(_key_match(column, groups[0]) for column in _PATIENT_NAME_GROUPS))
    return and_(*(
        _key_match(column, group) for column, group in zip(_PATIENT_NAME_GROUPS, groups) if group
    ))


def _key_match(column: Any, key: str) -> ColumnElement[bool]:
    """Equality for a plain value (index-friendly), LIKE for a DICOM wildcard."""
    if "*" in key or "?" in key:
        return like(column, like_pattern(key))
    return column == key


def _name_text(match: Any) -> str:
    if not isinstance(match, (SingleValue, Wildcard)):
        raise InvalidInput("person names match a single value or a wildcard")
    return match.value if isinstance(match, SingleValue) else match.pattern


def _name_clause(column: Any, match: Any) -> ColumnElement[bool]:
    """Person names match on any component group, case-insensitively."""
    pattern = like_pattern(name_key(_name_text(match)))
    return or_(
        like(column, pattern),
        like(column, pattern + "=%"),
        like(column, "%=" + pattern),
        like(column, "%=" + pattern + "=%"),
    )


def like(column: Any, pattern: str) -> ColumnElement[bool]:
    """``column LIKE pattern`` with the pattern rendered inline, so that the database's
    planner sees it and uses an index for a prefix (SQLite ignores indexes for a bound one)."""
    return column.like(bindparam(None, pattern, literal_execute=True), escape="\\")


def like_pattern(text: str) -> str:
    """DICOM wildcards (``*``, ``?``) as a SQL LIKE pattern with ``\\`` as escape."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped.replace("*", "%").replace("?", "_")
