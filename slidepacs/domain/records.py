"""What the index knows about each level of the DICOM hierarchy, as frozen records.

Values are decoded text (Unicode) in DICOM string form: dates ``YYYYMMDD``, times
``HHMMSS.FFFFFF``, multi-values joined with a backslash.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class SopReference:
    """What a sender says an object is (e.g. a C-STORE request's Affected SOP Class and
    Instance UIDs), to be checked against the object's own data set."""

    sop_class_uid: str
    sop_instance_uid: str


@dataclass(frozen=True, slots=True)
class PatientRecord:
    """Patient-level attributes (Patient Root query keys)."""

    patient_id: str
    issuer_of_patient_id: str = ""
    patient_name: str = ""
    birth_date: str = ""
    sex: str = ""
    comments: str = ""


@dataclass(frozen=True, slots=True)
class StudyRecord:
    """Study-level attributes."""

    study_instance_uid: str
    study_date: str = ""
    study_time: str = ""
    accession_number: str = ""
    study_id: str = ""
    description: str = ""
    referring_physician_name: str = ""


@dataclass(frozen=True, slots=True)
class SeriesRecord:
    """Series-level attributes."""

    series_instance_uid: str
    modality: str = ""
    series_number: int | None = None
    series_date: str = ""
    series_time: str = ""
    description: str = ""
    body_part_examined: str = ""


@dataclass(frozen=True, slots=True)
class SlideRecord:
    """Whole-slide attributes of one instance (empty for radiology objects)."""

    barcode: str = ""
    slide_id: str = ""
    case_id: str = ""
    scanner: str = ""
    pyramid_level: int | None = None
    tile_width: int | None = None
    tile_height: int | None = None
    total_pixel_matrix_columns: int | None = None
    total_pixel_matrix_rows: int | None = None

    @property
    def is_empty(self) -> bool:
        """True when no whole-slide attribute is set."""
        return self == SlideRecord()


@dataclass(frozen=True, slots=True)
class InstanceRecord:
    """Instance-level attributes, including the slide fields."""

    sop_instance_uid: str
    sop_class_uid: str
    transfer_syntax_uid: str
    instance_number: int | None = None
    image_type: str = ""
    number_of_frames: int | None = None
    rows: int | None = None
    columns: int | None = None
    specific_character_set: str = ""
    slide: SlideRecord = field(default_factory=SlideRecord)


@dataclass(frozen=True, slots=True)
class InstanceHeader:
    """Everything the index needs about one DICOM object, read without its pixel data."""

    patient: PatientRecord
    study: StudyRecord
    series: SeriesRecord
    instance: InstanceRecord
    has_file_meta: bool = True
