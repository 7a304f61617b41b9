"""The study list's searches in SQL: a page of studies matching a :class:`ListSearch`, with
its total, and one study's series and instances.

Patient- and study-level keys filter the joined study row; series- and instance-level keys
select studies that have such a series or instance (``EXISTS``), and "not equal" on them
selects studies that have none. Text compares case-insensitively. One statement for the page,
one for the total, and one each for the page's first series and slide identifiers.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, and_, exists, func, not_, or_, select
from sqlalchemy.orm import Session

from slidepacs.domain.list_search import Criterion, Kind, Level, ListSearch, Op
from slidepacs.domain.names import name_key
from slidepacs.domain.study_list import InstanceRow, SeriesRow, StudyDetail, StudyPage, StudyRow
from slidepacs.index.query_sql import like, like_pattern
from slidepacs.index.tables import Instance, Patient, Series, Study

COLUMNS: dict[str, Any] = {
    "studyinstanceuid": Study.study_instance_uid,
    "seriesinstanceuid": Series.series_instance_uid,
    "sopinstanceuid": Instance.sop_instance_uid,
    "patientid": Patient.patient_id,
    "patientname": Patient.patient_name_key,
    "patientcomments": Patient.comments,
    "patientbirthdate": Patient.birth_date,
    "patientsex": Patient.sex,
    "studydescription": Study.description,
    "studyid": Study.study_id,
    "studydate": Study.study_date,
    "studytime": Study.study_time,
    "accessionnumber": Study.accession_number,
    "seriesnumber": Series.series_number,
    "seriesdate": Series.series_date,
    "seriestime": Series.series_time,
    "seriesdescription": Series.description,
    "modality": Series.modality,
    "bodypartexamined": Series.body_part_examined,
    "slideid": Instance.slide_id,
    "caseid": Instance.case_id,
    "barcode": Instance.barcode,
}
_SORT_COLUMNS: dict[str, Any] = {**COLUMNS, "patientname": Patient.patient_name,
                                 "modality": Study.modalities}
# identifiers and codes: equal matches use the column's index, trying the value as typed, in
# upper and in lower case (other text compares case-insensitively through lower())
_INDEXED_EQUAL = frozenset({"patientid", "accessionnumber", "studyid", "modality", "slideid",
                            "caseid", "barcode"})
_COMPARE = {Op.GT: "__gt__", Op.GE: "__ge__", Op.LT: "__lt__", Op.LE: "__le__"}


def study_clause(criterion: Criterion) -> ColumnElement[bool]:
    """The WHERE clause a study must meet for ``criterion``."""
    if criterion.level in (Level.PATIENT, Level.STUDY):
        return _value_clause(criterion, criterion.op)
    if criterion.op is Op.NE:  # no series / instance has it
        return not_(_below(criterion, _value_clause(criterion, Op.EQ)))
    return _below(criterion, _value_clause(criterion, criterion.op))


def _below(criterion: Criterion, clause: ColumnElement[bool]) -> ColumnElement[bool]:
    if criterion.level is Level.SERIES:
        return exists().where(Series.study_pk == Study.pk, clause)
    return exists().where(Series.study_pk == Study.pk, Instance.series_pk == Series.pk, clause)


def _value_clause(criterion: Criterion, op: Op) -> ColumnElement[bool]:
    column, kind, values = COLUMNS[criterion.key], criterion.kind, criterion.values
    if criterion.key in _INDEXED_EQUAL and op in (Op.EQ, Op.NE) and not any(
            "*" in v or "?" in v for v in values):
        spellings = column.in_({s for v in values for s in (v, v.upper(), v.lower())})
        return spellings if op is Op.EQ else or_(column.is_(None), not_(spellings))
    if kind is Kind.NAME:
        values = tuple(name_key(v) for v in values)
    elif kind is Kind.TEXT:
        column, values = func.lower(column), tuple(v.lower() for v in values)
    if kind is Kind.NUMBER:
        values = tuple(int(v) if v else "" for v in values)  # type: ignore[misc]
    if op is Op.EQ:
        return or_(*(_equal(column, kind, v) for v in values))
    if op is Op.NE:
        return or_(column.is_(None), not_(_equal(column, kind, values[0])))
    if op is Op.CONTAINS:
        return _contains(column, str(values[0]))
    if op is Op.RANGE:
        low, high = values
        parts = [column.is_not(None)] if kind is Kind.NUMBER else [column != ""]
        if low != "":
            parts.append(column >= low)
        if high != "":
            parts.append(column <= (high + "\uffff" if kind is Kind.TIME else high))
        return and_(*parts)
    compared = getattr(column, _COMPARE[op])(values[0])
    return compared if kind is Kind.NUMBER else and_(column != "", compared)  # "" is no value


def _equal(column: Any, kind: Kind, value: Any) -> ColumnElement[bool]:
    if kind is Kind.TIME:  # 10:56 matches 105600 and 105612.5
        return like(column, like_pattern(value) + "%")
    if isinstance(value, str) and ("*" in value or "?" in value):
        return like(column, like_pattern(value))
    return column == value


def _contains(column: Any, value: str) -> ColumnElement[bool]:
    escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return like(column, f"%{escaped}%")


class StudyListRepository:
    """Study-list queries on one session."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def search(self, search: ListSearch) -> StudyPage:
        """The page of studies ``search`` asks for, and the total that match."""
        where = [study_clause(c) for c in search.criteria]
        base = select(Study.pk).join(Patient, Patient.pk == Study.patient_pk).where(*where)
        total = self.session.scalar(select(func.count()).select_from(base.subquery())) or 0
        column = _SORT_COLUMNS[search.sort]
        order = [column.desc() if search.descending else column.asc()]
        if search.sort == "studydate":
            order.append(Study.study_time.desc() if search.descending else Study.study_time.asc())
        statement = (select(Study, Patient).join(Patient, Patient.pk == Study.patient_pk)
                     .where(*where).order_by(*order, Study.pk)
                     .limit(search.limit).offset(search.offset))
        found = self.session.execute(statement).all()
        extras = self._extras([study.pk for study, _ in found])
        rows = [_study_row(study, patient, extras.get(study.pk, {})) for study, patient in found]
        return StudyPage(total, search.offset, search.limit, rows)

    def detail(self, study_instance_uid: str) -> StudyDetail | None:
        """A study with its series (by number) and their instances, or None."""
        found = self.session.execute(
            select(Study, Patient).join(Patient, Patient.pk == Study.patient_pk)
            .where(Study.study_instance_uid == study_instance_uid)).first()
        if found is None:
            return None
        study, patient = found
        series = list(self.session.scalars(
            select(Series).where(Series.study_pk == study.pk)
            .order_by(Series.series_number, Series.pk)))
        instances: dict[int, list[InstanceRow]] = {s.pk: [] for s in series}
        for item in self.session.scalars(
                select(Instance).where(Instance.series_pk.in_(instances))
                .order_by(Instance.instance_number, Instance.pk)):
            instances[item.series_pk].append(InstanceRow(
                item.sop_instance_uid, item.sop_class_uid, item.instance_number,
                item.number_of_frames, item.rows, item.columns, item.image_type,
                item.slide_id, item.barcode))
        extras = self._extras([study.pk])
        return StudyDetail(_study_row(study, patient, extras.get(study.pk, {})), [
            SeriesRow(s.series_instance_uid, s.series_number, s.modality, s.description,
                      s.body_part_examined, s.series_date, s.series_time, instances[s.pk])
            for s in series])

    def _extras(self, study_pks: list[int]) -> dict[int, dict[str, Any]]:
        """Per study: its first series' UID and its slide, case and barcode values."""
        if not study_pks:
            return {}
        extras: dict[int, dict[str, Any]] = {pk: {"slide": set(), "case": set(),
                                                  "barcode": set()} for pk in study_pks}
        first = (select(Series.study_pk, func.min(Series.pk).label("pk"))
                 .where(Series.study_pk.in_(study_pks)).group_by(Series.study_pk).subquery())
        for study_pk, uid in self.session.execute(
                select(first.c.study_pk, Series.series_instance_uid)
                .join(Series, Series.pk == first.c.pk)):
            extras[study_pk]["first"] = uid
        slides = (select(Series.study_pk, Instance.slide_id, Instance.case_id, Instance.barcode)
                  .join(Instance, Instance.series_pk == Series.pk)
                  .where(Series.study_pk.in_(study_pks),
                         or_(Instance.slide_id != "", Instance.case_id != "",
                             Instance.barcode != ""))
                  .distinct())
        for study_pk, slide_id, case_id, barcode in self.session.execute(slides):
            for name, value in (("slide", slide_id), ("case", case_id), ("barcode", barcode)):
                if value:
                    extras[study_pk][name].add(value)
        return extras


def _study_row(study: Study, patient: Patient, extra: dict[str, Any]) -> StudyRow:
    return StudyRow(
        study.study_instance_uid, patient.patient_id, patient.patient_name, patient.birth_date,
        patient.sex, study.study_date, study.study_time, study.description,
        study.accession_number, study.study_id,
        tuple(m for m in study.modalities.split("\\") if m), study.num_series,
        study.num_instances, extra.get("first", ""),
        tuple(sorted(extra.get("slide", ()))), tuple(sorted(extra.get("case", ()))),
        tuple(sorted(extra.get("barcode", ()))))
