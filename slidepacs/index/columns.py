"""Which index column holds each DICOM attribute, for returning and for matching."""

from __future__ import annotations

from typing import Any

from slidepacs.index.tables import Instance, Patient, Series, Study

PATIENT_FIELDS = {
    "PatientID": Patient.patient_id,
    "IssuerOfPatientID": Patient.issuer_of_patient_id,
    "PatientName": Patient.patient_name,
    "PatientBirthDate": Patient.birth_date,
    "PatientSex": Patient.sex,
    "PatientComments": Patient.comments,
}
STUDY_FIELDS = {
    "StudyInstanceUID": Study.study_instance_uid,
    "StudyDate": Study.study_date,
    "StudyTime": Study.study_time,
    "AccessionNumber": Study.accession_number,
    "StudyID": Study.study_id,
    "StudyDescription": Study.description,
    "ReferringPhysicianName": Study.referring_physician_name,
    "ModalitiesInStudy": Study.modalities,
    "NumberOfStudyRelatedSeries": Study.num_series,
    "NumberOfStudyRelatedInstances": Study.num_instances,
    "CaseID": Study.case_id,
}
SERIES_FIELDS = {
    "SeriesInstanceUID": Series.series_instance_uid,
    "Modality": Series.modality,
    "SeriesNumber": Series.series_number,
    "SeriesDate": Series.series_date,
    "SeriesTime": Series.series_time,
    "SeriesDescription": Series.description,
    "BodyPartExamined": Series.body_part_examined,
    "NumberOfSeriesRelatedInstances": Series.num_instances,
}
INSTANCE_FIELDS = {
    "SOPInstanceUID": Instance.sop_instance_uid,
    "SOPClassUID": Instance.sop_class_uid,
    "InstanceNumber": Instance.instance_number,
    "NumberOfFrames": Instance.number_of_frames,
    "Rows": Instance.rows,
    "Columns": Instance.columns,
    "ImageType": Instance.image_type,
    "TransferSyntaxUID": Instance.transfer_syntax_uid,
    "SpecificCharacterSet": Instance.specific_character_set,
    "BarcodeValue": Instance.barcode,
    "SlideID": Instance.slide_id,
    "TotalPixelMatrixColumns": Instance.total_pixel_matrix_columns,
    "TotalPixelMatrixRows": Instance.total_pixel_matrix_rows,
}

# Matching uses the same columns, except that names match on their normalised search keys and
# the slide fields live on the instance.
SEARCH_COLUMNS: dict[str, Any] = {
    **PATIENT_FIELDS, **STUDY_FIELDS, **SERIES_FIELDS, **INSTANCE_FIELDS,
    "PatientName": Patient.patient_name_key,
    "ReferringPhysicianName": Study.referring_physician_name_key,
    "CaseID": Instance.case_id,
}
