"""DICOMDIR export and import: dcmtk and pydicom read what we write, bytes are kept, a round
trip through media reproduces the index, and pydicom's DICOMDIR test media import."""

from __future__ import annotations

import re
import subprocess
import warnings
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.fileset import FileSet
from pydicom.uid import generate_uid

from slidepacs.bootstrap import AppContext
from slidepacs.domain.query import Level, Query
from slidepacs.testing.generators import PatientSpec, ct_dataset
from tests.media import (
    CliResult,
    SeriesSpec,
    archive_on,
    index_content,
    indexed_sop_uids,
    invoke_slidepacs,
    pydicom_test_files,
    write_config,
    write_study,
)

BASIC_TEXT_SR = "1.2.840.10008.5.1.4.1.1.88.11"
DOE = PatientSpec(patient_id="PAT-A", patient_name="DOE^JOHN")
SMITH = PatientSpec(patient_id="PAT-B", patient_name="Smith^Jane", birth_date="19820304",
                    sex="F")


@dataclass(frozen=True)
class Study:
    """A generated, imported study."""

    uid: str
    series: dict[str, list[str]]
    folder: Path

    @property
    def sop_uids(self) -> set[str]:
        return {uid for uids in self.series.values() for uid in uids}


@dataclass(frozen=True)
class Archive:
    """An archive holding two patients: DOE with two studies, SMITH with one."""

    app: AppContext
    config: Path
    doe_2024: Study
    doe_2023: Study
    smith_2024: Study


def _study(folder: Path, patient: PatientSpec, date: str, series: list[SeriesSpec]) -> Study:
    written = write_study(folder, patient, date, series)
    uid = str(pydicom.dcmread(next(folder.glob("*.dcm"))).StudyInstanceUID)
    return Study(uid, written, folder)


@pytest.fixture
def archive(app: AppContext, tmp_path: Path) -> Archive:
    incoming = tmp_path / "incoming"
    result = Archive(
        app, write_config(app.settings, tmp_path / "config"),
        _study(incoming / "doe-2024", DOE, "20240115", [SeriesSpec("CT", 3), SeriesSpec("MR", 2)]),
        _study(incoming / "doe-2023", DOE, "20230610", [SeriesSpec("CT", 2)]),
        _study(incoming / "smith-2024", SMITH, "20240301", [SeriesSpec("CT", 2)]),
    )
    items, problems = app.importer.discover([incoming], recursive=True)
    report = app.importer.run(items)
    assert (report.stored, report.failures, problems) == (9, [], [])
    return result


@pytest.fixture
def second_app(tmp_path: Path, database_url: str, request: pytest.FixtureRequest):
    """A second, empty archive on the same backend as ``app``."""
    backend = "postgresql" if database_url else "sqlite"
    with archive_on(backend, request, tmp_path / "second" / "data") as context:
        yield context


def export(archive: Archive, target: Path, *selection: str) -> CliResult:
    return invoke_slidepacs(archive.config, "export", target, *selection)


def file_set_uids(target: Path) -> set[str]:
    """SOP Instance UIDs listed in a DICOMDIR, read back by pydicom."""
    return {str(instance.SOPInstanceUID) for instance in FileSet(target / "DICOMDIR")}


def dcmdump(path: Path, *options: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["dcmdump", *options, str(path)], capture_output=True, text=True,
                          encoding="utf-8", errors="replace", timeout=60)


def dumped_values(dump: str, tag: str) -> list[str]:
    """The values of every ``tag`` (e.g. ``0004,1430``) in a dcmdump listing."""
    return re.findall(rf"^\s*\({tag}\) \w\w \[([^\]]*)\]", dump, flags=re.MULTILINE)


# -- the written file-set -------------------------------------------------------------------------
def test_study_export_is_a_file_set_dcmdump_reads_with_one_record_per_level(archive, tmp_path):
    target = tmp_path / "out"
    result = export(archive, target, "--study", archive.doe_2024.uid)
    assert result.returncode == 0, result.stderr
    assert "Exported 5 instances" in result.stdout
    dump = dcmdump(target / "DICOMDIR")
    assert dump.returncode == 0 and "E:" not in dump.stderr, dump.stderr
    assert Counter(dumped_values(dump.stdout, "0004,1430")) == {
        "PATIENT": 1, "STUDY": 1, "SERIES": 2, "IMAGE": 5}
    assert dumped_values(dump.stdout, "0010,0020") == ["PAT-A"]
    assert dumped_values(dump.stdout, "0020,000d") == [archive.doe_2024.uid]
    assert set(dumped_values(dump.stdout, "0020,000e")) == set(archive.doe_2024.series)
    assert set(dumped_values(dump.stdout, "0004,1511")) == archive.doe_2024.sop_uids
    for file_id in dumped_values(dump.stdout, "0004,1500"):
        referenced = target.joinpath(*file_id.split("\\"))
        listing = dcmdump(referenced)
        assert listing.returncode == 0 and "E:" not in listing.stderr, (file_id, listing.stderr)
        [uid] = dumped_values(listing.stdout, "0008,0018")
        assert uid in archive.doe_2024.sop_uids


def test_pydicom_reads_the_exported_file_set_back(archive, tmp_path):
    target = tmp_path / "out"
    assert export(archive, target, "--study", archive.doe_2024.uid).returncode == 0
    file_set = FileSet(target / "DICOMDIR")
    assert len(file_set) == 5
    assert file_set_uids(target) == archive.doe_2024.sop_uids
    assert len(file_set.find(PatientID="PAT-A")) == 5
    for series_uid, sop_uids in archive.doe_2024.series.items():
        found = file_set.find(SeriesInstanceUID=series_uid)
        assert {str(i.SOPInstanceUID) for i in found} == set(sop_uids)
    for instance in file_set:
        assert instance.load().SOPInstanceUID == instance.SOPInstanceUID


def test_exported_files_are_byte_identical_to_the_stored_files(archive, tmp_path):
    target = tmp_path / "out"
    assert export(archive, target, "--patient", "PAT-A").returncode == 0
    exported = {str(i.SOPInstanceUID): Path(i.path) for i in FileSet(target / "DICOMDIR")}
    assert len(exported) == 7
    with archive.app.unit_of_work.read() as repo:
        for uid, path in exported.items():
            stored = archive.app.store.path(repo.find_instance(uid).file.relpath)
            assert path.read_bytes() == stored.read_bytes()
    originals = {p.stem: p for p in archive.doe_2024.folder.glob("*.dcm")}
    for uid in archive.doe_2024.sop_uids:
        assert exported[uid].read_bytes() == originals[uid].read_bytes()


# -- round trip -----------------------------------------------------------------------------------
@pytest.mark.parametrize("how", ["dicomdir-file", "folder", "folder-recursive"])
def test_reimporting_an_export_reproduces_the_index(archive, second_app, tmp_path, how):
    target = tmp_path / "out"
    report = archive.app.exporter.export(Query(Level.IMAGE), target)
    assert report.instances == 9
    source = target / "DICOMDIR" if how == "dicomdir-file" else target
    options = ["--recursive"] if how == "folder-recursive" else []
    config = write_config(second_app.settings, tmp_path / "second-config")
    result = invoke_slidepacs(config, "import", source, *options)
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"│ stored\s+│\s+9 │", result.stdout)
    assert re.search(r"│ already stored \(identical\)\s+│\s+0 │", result.stdout)
    first, second = index_content(archive.app), index_content(second_app)
    assert len(second["instances"]) == 9
    assert second == first


# -- pydicom's DICOMDIR test media ----------------------------------------------------------------
MEDIA = ["DICOMDIR", "DICOMDIR-bigEnd", "DICOMDIR-implicit", "DICOMDIR-nooffset",
         "DICOMDIR-reordered", "TINY_ALPHA/DICOMDIR"]


@pytest.mark.parametrize("name", MEDIA)
def test_pydicom_dicomdir_media_import_every_referenced_instance(app, name):
    media = pydicom_test_files() / "dicomdirtests" / name
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom notes the big endian / implicit DICOMDIRs
        expected = list(FileSet(media))
        items, problems = app.importer.discover([media], recursive=False)
        report = app.importer.run(items)
    assert problems == [] and report.failures == []
    assert len(items) == len(expected) > 0
    assert report.stored == len(expected)
    assert indexed_sop_uids(app) == {str(i.SOPInstanceUID) for i in expected}
    with app.unit_of_work.read() as repo:
        counts = repo.counts()
    assert counts.patients == len({str(i.PatientID) for i in expected})
    assert counts.studies == len({str(i.StudyInstanceUID) for i in expected})
    assert counts.series == len({str(i.SeriesInstanceUID) for i in expected})


def test_unreadable_dicomdir_is_reported_with_its_reason_and_imports_nothing(app):
    media = pydicom_test_files() / "dicomdirtests" / "DICOMDIR-nopatient"
    items, problems = app.importer.discover([media], recursive=False)
    assert items == []
    [(path, reason)] = problems
    assert path == media and reason.startswith("not a readable DICOMDIR")


def test_media_with_a_missing_file_imports_the_others_and_reports_the_missing_one(
    archive, second_app, tmp_path
):
    target = tmp_path / "out"
    archive.app.exporter.export(Query(Level.IMAGE), target)
    [first, *others] = [Path(i.path) for i in FileSet(target / "DICOMDIR")]
    first.unlink()
    items, problems = second_app.importer.discover([target / "DICOMDIR"], recursive=False)
    report = second_app.importer.run(items)
    assert problems == []
    assert report.stored == len(others) == 8
    [(path, reason)] = report.failures
    assert path == first and "No such file" in reason


# -- what gets exported ---------------------------------------------------------------------------
@pytest.mark.parametrize(("selection", "expected"), [
    (["--patient", "PAT-B"], ["smith_2024"]),
    (["--patient", "PAT-A"], ["doe_2024", "doe_2023"]),
    (["--query", "PatientName=doe*"], ["doe_2024", "doe_2023"]),
    (["--query", "PatientName=sMiTh^JANE"], ["smith_2024"]),
    (["--query", "PatientName=*jane"], ["smith_2024"]),
    (["--query", "StudyDate=20240101-20241231"], ["doe_2024", "smith_2024"]),
    (["--query", "StudyDate=-20231231"], ["doe_2023"]),
    (["-q", "PatientName=DOE*", "-q", "StudyDate=20240101-"], ["doe_2024"]),
], ids=lambda value: " ".join(value) if value[0].startswith("-") else "+".join(value))
def test_export_selects_exactly_the_matching_instances(archive, tmp_path, selection, expected):
    target = tmp_path / "out"
    result = export(archive, target, *selection)
    assert result.returncode == 0, result.stderr
    wanted = set().union(*(getattr(archive, name).sop_uids for name in expected))
    assert file_set_uids(target) == wanted


def test_export_by_series_level_key_exports_only_that_series(archive, tmp_path):
    target = tmp_path / "out"
    result = export(archive, target, "-q", "PatientName=doe*", "-q", "Modality=MR")
    assert result.returncode == 0, result.stderr
    [mr_series] = [uids for uids in archive.doe_2024.series.values() if len(uids) == 2]
    assert file_set_uids(target) == set(mr_series)


def test_export_by_a_list_of_study_uids_exports_those_studies(archive, tmp_path):
    target = tmp_path / "out"
    uids = f"{archive.doe_2023.uid}\\{archive.smith_2024.uid}"
    result = export(archive, target, "--query", f"StudyInstanceUID={uids}")
    assert result.returncode == 0, result.stderr
    assert file_set_uids(target) == archive.doe_2023.sop_uids | archive.smith_2024.sop_uids


def test_export_to_a_non_empty_folder_is_refused_and_leaves_it_alone(archive, tmp_path):
    target = tmp_path / "out"
    target.mkdir()
    (target / "keep.txt").write_text("mine")
    result = export(archive, target, "--patient", "PAT-A")
    assert result.returncode != 0
    assert f"error: export folder {target} is not empty" in result.stderr
    assert "Traceback" not in result.stderr
    assert [p.name for p in target.iterdir()] == ["keep.txt"]


def test_export_to_an_existing_file_is_refused_and_leaves_it_alone(archive, tmp_path):
    target = tmp_path / "report.pdf"
    target.write_text("mine")
    result = export(archive, target, "--patient", "PAT-A")
    assert result.returncode != 0
    assert "exists and is not a folder" in result.stderr
    assert "Traceback" not in result.stderr
    assert target.read_text() == "mine"


@pytest.mark.parametrize("selection", [
    ["--query", "PatientName=nobody*"], ["--patient", "PAT-Z"],
    ["--study", "1.2.3.4"], ["--query", "StudyDate=20990101-"],
])
def test_export_matching_nothing_is_a_clear_error_and_writes_nothing(archive, tmp_path, selection):
    target = tmp_path / "out"
    result = export(archive, target, *selection)
    assert result.returncode != 0
    assert "error: no stored instance matches the export selection" in result.stderr
    assert "Traceback" not in result.stderr
    assert not target.exists()


def test_export_without_a_selection_is_refused(archive, tmp_path):
    result = export(archive, tmp_path / "out")
    assert result.returncode != 0
    assert "choose what to export" in result.stderr
    assert not (tmp_path / "out").exists()


def write_sr(folder: Path, with_concept_name: bool) -> Path:
    """A Basic Text SR without the flags and dates its DICOMDIR record needs."""
    ds = ct_dataset(PatientSpec(patient_id="PAT-SR"), generate_uid(), generate_uid(), 1, size=8)
    for keyword in ("PixelData", "Rows", "Columns", "BitsAllocated", "BitsStored", "HighBit",
                    "PixelRepresentation", "SamplesPerPixel", "PhotometricInterpretation"):
        delattr(ds, keyword)
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = BASIC_TEXT_SR
    ds.Modality = "SR"
    if with_concept_name:
        code = Dataset()
        code.CodeValue, code.CodingSchemeDesignator = "11528-7", "LN"
        code.CodeMeaning = "Radiology Report"
        ds.ConceptNameCodeSequence = [code]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{ds.SOPInstanceUID}.dcm"
    ds.save_as(path, enforce_file_format=True)
    return path


def test_report_lacking_record_keys_is_exported_with_placeholders_in_its_record(
    archive, tmp_path
):
    archive.app.ingest.ingest_file(write_sr(tmp_path / "sr", with_concept_name=True))
    target = tmp_path / "out"
    result = export(archive, target, "--patient", "PAT-SR")
    assert result.returncode == 0, result.stderr
    dump = dcmdump(target / "DICOMDIR")
    assert dump.returncode == 0, dump.stderr
    assert dumped_values(dump.stdout, "0004,1430")[-1] == "SR DOCUMENT"
    assert dumped_values(dump.stdout, "0040,a491") == ["PARTIAL"]  # Completion Flag


def test_report_that_cannot_be_listed_is_a_clear_error_and_leaves_no_folder(archive, tmp_path):
    sr = write_sr(tmp_path / "sr", with_concept_name=False)
    archive.app.ingest.ingest_file(sr)
    target = tmp_path / "out"
    result = export(archive, target, "--patient", "PAT-SR")
    assert result.returncode != 0
    assert f"error: instance {sr.stem} cannot be listed in a DICOMDIR" in result.stderr
    assert "Concept Name Code Sequence" in result.stderr
    assert not target.exists()
