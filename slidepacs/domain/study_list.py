"""What the study list shows: a page of studies, and one study with its series and
instances (the drill-down). Pure records."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class StudyRow:
    """One study of the list."""

    study_instance_uid: str
    patient_id: str
    patient_name: str
    patient_birth_date: str
    patient_sex: str
    study_date: str
    study_time: str
    study_description: str
    accession_number: str
    study_id: str
    modalities: tuple[str, ...]
    series: int
    instances: int
    first_series_uid: str = ""
    slide_ids: tuple[str, ...] = ()
    case_ids: tuple[str, ...] = ()
    barcodes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class StudyPage:
    """A page of the list and how many studies match in all."""

    total: int
    offset: int
    limit: int
    studies: list[StudyRow]


@dataclass(frozen=True, slots=True)
class InstanceRow:
    """An instance in the drill-down."""

    sop_instance_uid: str
    sop_class_uid: str
    instance_number: int | None
    frames: int | None
    rows: int | None
    columns: int | None
    image_type: str
    slide_id: str
    barcode: str


@dataclass(frozen=True, slots=True)
class SeriesRow:
    """A series in the drill-down, with its instances."""

    series_instance_uid: str
    series_number: int | None
    modality: str
    description: str
    body_part: str
    series_date: str
    series_time: str
    instances: list[InstanceRow] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class StudyDetail:
    """A study with its series."""

    study: StudyRow
    series: list[SeriesRow]
