"""Import every sample file of pydicom-data and of pydicom's own test files, on both backends.

The expected index content is computed independently of slidepacs, by reading the accepted
files with pydicom; the only refusals allowed are the files listed below (each one really is
broken) and, under the default duplicate policy "reject", a later file that reuses an earlier
file's SOP Instance UID with other bytes (pydicom ships one image in several transfer syntaxes).
"""

from __future__ import annotations

import hashlib
import warnings
from pathlib import Path

import pydicom
import pytest

from slidepacs.bootstrap import AppContext
from slidepacs.dicom.header import is_dicomdir
from slidepacs.services.importer import ImportItem
from slidepacs.services.ingest import IngestFailure, IngestResult, Outcome
from tests.helpers import stored_files
from tests.media import BACKENDS, archive_on, pydicom_data_folder, pydicom_test_files

CONFLICT = "is already stored with different content"
NOT_DICOM = "not a DICOM file"
NO_SOP_CLASS = "SOP Class UID (0008,0016) is missing or empty"
NO_STUDY_UID = "Study Instance UID (0020,000D) is missing or empty"

# File name → why it must be refused (a part of the reason). Every other refusal is a conflict.
EXPECTED_REFUSALS = {
    "bad_sequence.dcm": "Study Instance UID (0020,000D) '05fa52f0",  # a hash, not a UID
    "emri_small_jpeg_2k_lossless_too_short.dcm": "file is truncated",  # no sequence delimiter
    "MR_truncated.dcm": "file is truncated: element (7FE0,0010)",
    "rtplan_truncated.dcm": "file is truncated: element (300A,00B0)",  # cut inside a sequence
    "SC_rgb_jpeg.dcm": "has no VR although the transfer syntax is explicit VR",
    "meta_missing_tsyntax.dcm": "has no Transfer Syntax UID (0002,0010)",
    "no_meta.dcm": NOT_DICOM,  # a data set shifted by one byte
    "JPEGLSNearLossless_08.dcm": NO_STUDY_UID,
    "JPEGLSNearLossless_16.dcm": NO_STUDY_UID,
    "SC_rgb_jls_lossy_line.dcm": NO_STUDY_UID,
    "SC_rgb_jls_lossy_sample.dcm": NO_STUDY_UID,
    "UN_sequence.dcm": NO_SOP_CLASS,
    "empty_charset_LEI.dcm": NO_SOP_CLASS,
    "nested_priv_SQ.dcm": NO_SOP_CLASS,
    "no_meta_group_length.dcm": NO_SOP_CLASS,
    "priv_SQ.dcm": NO_SOP_CLASS,
    "README.txt": NOT_DICOM,
    "README": NOT_DICOM,
    "crayons.icc": NOT_DICOM,
    "rtplan.dump": NOT_DICOM,
    "rtstruct.dump": NOT_DICOM,
    "test1.json": NOT_DICOM,
    "test_PN.json": NOT_DICOM,
    "zipMR.gz": NOT_DICOM,
}
# DICOMDIRs that cannot be read as media (their referenced files are still found by the walk).
EXPECTED_MEDIA_PROBLEMS = {"DICOMDIR-nopatient": "not a readable DICOMDIR"}

Result = IngestResult | IngestFailure


def corpus_roots() -> list[Path]:
    """The two sample collections, found through their installed packages."""
    return [pydicom_data_folder(), pydicom_test_files()]


def corpus_files(roots: list[Path]) -> list[Path]:
    """Every file under the roots, recursively."""
    return sorted(p for root in roots for p in root.rglob("*") if p.is_file())


def import_corpus(app: AppContext) -> tuple[list[ImportItem], dict[Path, Result], list]:
    """discover + run, recording each item's result in import order."""
    items, problems = app.importer.discover(corpus_roots(), recursive=True)
    results: dict[Path, Result] = {}

    def record(item: ImportItem, result: Result) -> None:
        assert item.path not in results, f"{item.path} was imported twice"
        results[item.path] = result

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom warns about many of these files
        report = app.importer.run(items, "corpus", record)
    assert report.files == len(items) == len(results)
    assert sorted(report.failures) == sorted(
        (p, str(r.error)) for p, r in results.items() if isinstance(r, IngestFailure))
    return items, results, problems


def read(path: Path) -> pydicom.Dataset:
    """The file's header as pydicom reads it (bare data sets too)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pydicom.dcmread(path, stop_before_pixels=True, force=True)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def text(ds: pydicom.Dataset, keyword: str) -> str:
    return str(ds.get(keyword, "") or "").strip()


@pytest.fixture(scope="module", params=BACKENDS)
def imported(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """The corpus imported once per backend into a fresh archive (the tests only read it)."""
    with archive_on(request.param, request, tmp_path_factory.mktemp("corpus") / "data") as app:
        yield (app, *import_corpus(app))


def test_corpus_is_big_enough_to_mean_something():
    files = corpus_files(corpus_roots())
    assert len(files) > 200
    assert sum(1 for f in files if f.suffix == ".dcm") > 140


def test_every_corpus_file_is_stored_duplicate_refused_with_reason_or_media(imported):
    app, items, results, problems = imported
    item_paths = {i.path for i in items}
    problem_paths = {path: reason for path, reason in problems}
    for path in corpus_files(corpus_roots()):
        if path in item_paths:
            result = results[path]
            if isinstance(result, IngestFailure):
                assert str(result.error).strip(), f"{path} failed without a reason"
            else:
                assert result.outcome in (Outcome.STORED, Outcome.DUPLICATE), path
        elif path in problem_paths:
            assert problem_paths[path].strip()
        else:  # a DICOMDIR is expanded into the files it references
            assert is_dicomdir(path), f"{path} was neither imported nor reported"
    assert {p.name: r for p, r in problem_paths.items()}.keys() == EXPECTED_MEDIA_PROBLEMS.keys()
    for path, reason in problem_paths.items():
        assert EXPECTED_MEDIA_PROBLEMS[path.name] in reason


def test_only_broken_files_and_same_uid_variants_are_refused(imported):
    app, items, results, _ = imported
    failures = {p: str(r.error) for p, r in results.items() if isinstance(r, IngestFailure)}
    refused_as_broken = {p.name: reason for p, reason in failures.items() if CONFLICT not in reason}
    assert refused_as_broken.keys() == EXPECTED_REFUSALS.keys()
    for name, reason in refused_as_broken.items():
        assert EXPECTED_REFUSALS[name] in reason, (name, reason)
    # Conflicts: independently, the file reuses the UID of an earlier accepted file, other bytes.
    first_accepted: dict[str, str] = {}
    for item in items:
        result = results[item.path]
        uid = text(read(item.path), "SOPInstanceUID") if item.path.name not in (
            EXPECTED_REFUSALS) else None
        if isinstance(result, IngestResult):
            assert uid == result.sop_instance_uid
            if result.outcome is Outcome.DUPLICATE:
                assert first_accepted[uid] == digest(item.path)
            else:
                assert uid not in first_accepted
                first_accepted[uid] = digest(item.path)
        elif CONFLICT in str(result.error):
            assert uid in first_accepted, f"{item.path.name} conflicts with nothing earlier"
            assert first_accepted[uid] != digest(item.path)
            assert uid in str(result.error)
    assert sum(CONFLICT in reason for reason in failures.values()) > 40


def test_index_counts_match_the_accepted_files_read_with_pydicom(imported):
    app, items, results, _ = imported
    accepted = [item.path for item in items if isinstance(results[item.path], IngestResult)]
    headers = [read(path) for path in accepted]
    expected = (
        len({(text(ds, "PatientID"), text(ds, "IssuerOfPatientID")) for ds in headers}),
        len({text(ds, "StudyInstanceUID") for ds in headers}),
        len({text(ds, "SeriesInstanceUID") for ds in headers}),
        len({text(ds, "SOPInstanceUID") for ds in headers}),
    )
    with app.unit_of_work.read() as repo:
        counts = repo.counts()
    assert (counts.patients, counts.studies, counts.series, counts.instances) == expected
    stored = [r for r in results.values() if isinstance(r, IngestResult)
              and r.outcome is Outcome.STORED]
    assert counts.instances == len(stored) > 100
    assert counts.old_versions == 0
    assert counts.bytes == sum(r.size for r in stored)


def test_refused_files_leave_nothing_in_storage(imported):
    app, _, results, _ = imported
    stored = {r.relpath for r in results.values()
              if isinstance(r, IngestResult) and r.outcome is Outcome.STORED}
    [listing] = stored_files(app).values()
    assert sorted(listing) == sorted(stored)
