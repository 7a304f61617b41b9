"""Hierarchical queries (C-FIND, QIDO-RS) answered from the index alone.

Each level selects its own table joined upwards only: a study-level query touches patients
and studies (with their stored counters), never series or instances.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Select, func, or_, select
from sqlalchemy.orm import Session

from slidepacs.domain.query import Condition, Level, Query, SingleValue, UidList, Wildcard
from slidepacs.index.columns import INSTANCE_FIELDS, PATIENT_FIELDS, SERIES_FIELDS, STUDY_FIELDS
from slidepacs.index.query_sql import condition_clause, like, like_pattern
from slidepacs.index.tables import Instance, Patient, Series, Study

MatchRow = dict[str, Any]

_SEARCH_OVERRIDES = {"CaseID": {Level.STUDY: Study.case_id, Level.SERIES: Study.case_id}}


def fields_for(level: Level) -> dict[str, Any]:
    """Every attribute a match at ``level`` can return, keyword → column."""
    fields = dict(PATIENT_FIELDS)
    if level is Level.PATIENT:
        return fields
    fields |= STUDY_FIELDS
    if level is Level.STUDY:
        return fields
    fields |= SERIES_FIELDS
    if level is Level.SERIES:
        return fields
    return fields | INSTANCE_FIELDS


def level_select(query: Query) -> Select[Any]:
    """SELECT of the matches of ``query`` at its level, newest studies first."""
    fields = fields_for(query.level)
    statement = select(*[column.label(keyword) for keyword, column in fields.items()])
    if query.level is Level.PATIENT:
        statement = statement.add_columns(_patient_counts()).select_from(Patient)
        order: list[Any] = [Patient.pk]
    else:
        statement = statement.select_from(Study).join(Patient, Patient.pk == Study.patient_pk)
        order = [Study.study_date.desc(), Study.study_time.desc(), Study.pk.desc()]
    if query.level in (Level.SERIES, Level.IMAGE):
        statement = statement.join(Series, Series.study_pk == Study.pk)
        order += [Series.series_number, Series.pk]
    if query.level is Level.IMAGE:
        statement = statement.join(Instance, Instance.series_pk == Series.pk)
        order += [Instance.instance_number, Instance.pk]
    statement = statement.where(*[_clause(c, query.level) for c in query.conditions])
    statement = statement.order_by(*order).offset(query.offset or None)
    return statement.limit(query.limit) if query.limit is not None else statement


def find(session: Session, query: Query) -> list[MatchRow]:
    """Run a hierarchical query; each match is a dict keyed by DICOM keyword."""
    return [dict(row._mapping) for row in session.execute(level_select(query))]


def count(session: Session, query: Query) -> int:
    """How many matches ``query`` has, ignoring its limit and offset."""
    unpaged = Query(query.level, query.conditions)
    subquery = level_select(unpaged).order_by(None).subquery()
    return int(session.scalar(select(func.count()).select_from(subquery)) or 0)


def _clause(condition: Condition, level: Level) -> ColumnElement[bool]:
    if condition.keyword == "ModalitiesInStudy":
        return _modalities_clause(condition)
    override = _SEARCH_OVERRIDES.get(condition.keyword, {}).get(level)
    if override is not None:
        return condition_clause(condition, override)
    return condition_clause(condition)


def _modalities_clause(condition: Condition) -> ColumnElement[bool]:
    """ModalitiesInStudy matches a study when any of its modalities matches any value."""
    match = condition.match
    if isinstance(match, UidList):
        values = list(match.values)
    elif isinstance(match, SingleValue):
        values = match.value.split("\\")
    elif isinstance(match, Wildcard):
        values = match.pattern.split("\\")
    else:
        values = [str(match)]
    clauses = []
    for value in values:
        pattern = like_pattern(value)
        clauses += [
            like(Study.modalities, pattern),
            like(Study.modalities, pattern + "\\\\%"),
            like(Study.modalities, "%\\\\" + pattern),
            like(Study.modalities, "%\\\\" + pattern + "\\\\%"),
        ]
    return or_(*clauses)


def _patient_counts() -> Any:
    studies = (select(func.count()).where(Study.patient_pk == Patient.pk)
               .scalar_subquery().label("NumberOfPatientRelatedStudies"))
    return studies
