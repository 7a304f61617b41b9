"""A small archive of studies with known attributes, for the study-list tests (API and UI)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

from pydicom.uid import generate_uid

from slidepacs.bootstrap import AppContext
from slidepacs.services.image_rules import RuleChanges
from slidepacs.services.importer import ImportItem
from slidepacs.testing.generators import PatientSpec, ct_dataset
from slidepacs.testing.slides import SlideSpec, make_svs

SCANNER = "GT450_LIST"


@dataclass(frozen=True)
class Sample:
    """One radiology study of the sample archive."""

    patient_id: str
    name: str
    sex: str
    birth_date: str
    study_date: str
    study_time: str
    modality: str
    description: str
    accession: str
    series_number: int
    body_part: str


def samples(today: date) -> dict[str, Sample]:
    """Three radiology studies; the third is dated ``today`` at 23:59:59, so it sorts before a
    slide converted today whatever the hour the tests run."""
    return {
        "jane": Sample("P100", "DOE^JANE", "F", "19800101", "20240115", "101500", "CT",
                       "Chest CT", "ACC-A", 1, "CHEST"),
        "richard": Sample("P200", "ROE^RICHARD", "M", "19650302", "20230610", "083000", "MR",
                          "Knee MR", "ACC-B", 3, "KNEE"),
        "edgar": Sample("P300", "POE^EDGAR", "M", "19900707", today.strftime("%Y%m%d"),
                        "235959", "CR", "Hand radiograph", "ACC-C", 5, "HAND"),
    }


def add_sample_studies(app: AppContext, folder: Path, today: date,
                       slide: bool = True) -> dict[str, str]:
    """Store the sample studies (and one whole slide with slide ID A1, case ID S26-04711 and
    barcode "S26-04711 A1" unless ``slide`` is false); their Study Instance UIDs by name."""
    folder.mkdir(parents=True, exist_ok=True)
    uids: dict[str, str] = {}
    for key, sample in samples(today).items():
        study_uid, series_uid = generate_uid(), generate_uid()
        patient = PatientSpec(sample.patient_id, sample.name, sample.birth_date, sample.sex)
        for number in (1, 2):
            ds = ct_dataset(patient, study_uid, series_uid, number, size=16,
                            study_date=sample.study_date, accession=sample.accession,
                            modality=sample.modality)
            ds.StudyTime, ds.StudyDescription = sample.study_time, sample.description
            ds.SeriesNumber, ds.BodyPartExamined = sample.series_number, sample.body_part
            ds.SeriesDate, ds.SeriesTime = sample.study_date, sample.study_time
            path = folder / f"{key}-{number}.dcm"
            ds.save_as(path, enforce_file_format=True)
            app.ingest.ingest_file(path)
        uids[key] = study_uid
    if slide:
        app.rules.set(SCANNER, RuleChanges(barcode_regex=r"S\d{2}-\d{5} A\d+",
                                           case_id_regex=r"S\d{2}-\d{5}",
                                           slide_id_regex=r"(?<= )[A-Z]\d+$"))
        svs = make_svs(folder / "slide.svs", SlideSpec(width=1024, height=768, downsamples=(1,)))
        report = app.importer.run([ImportItem(svs, folder)], sender=SCANNER)
        assert report.stored >= 2 and not report.failures and not report.quarantined
        uids["slide"] = app.study_list.search(
            app.study_list.parse([("barcode", "S26-04711 A1")])).studies[0].study_instance_uid
    return uids
