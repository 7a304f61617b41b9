"""The DICOM front driven by a pynetdicom SCU: C-ECHO, C-STORE of several SOP classes and
transfer syntaxes, C-FIND matching on both information models and every level, C-CANCEL."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_charset_files
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid
from pynetdicom import build_role, evt
from pynetdicom.sop_class import (
    CTImageStorage,
    PatientRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelGet,
    Verification,
)

from slidepacs.testing.generators import PatientSpec, ct_dataset, write_ct_series
from tests.helpers import counts
from tests.conftest import BACKENDS
from tests.protocol.conftest import RunningDimse, start_front
from tests.protocol.scu import associate, context_id, dataset_bytes, pydicom_file

PATIENT_FIND = PatientRootQueryRetrieveInformationModelFind
STUDY_FIND = StudyRootQueryRetrieveInformationModelFind
STUDY_GET = StudyRootQueryRetrieveInformationModelGet
FIND_CONTEXTS = [(PATIENT_FIND, None), (STUDY_FIND, None)]
PENDING = (0xFF00, 0xFF01)
CANCEL = 0xFE00
IDENTIFIER_MISMATCH = 0xA900
# The keys a C-FIND SCP may add to the requested ones (PS3.4 C.4.1.1.3.2).
ALWAYS_ALLOWED = {"QueryRetrieveLevel", "SpecificCharacterSet", "RetrieveAETitle"}

# (pydicom test file, SOP class, transfer syntax): one of each kind the archive must keep.
STORE_CASES = [
    ("CT_small.dcm", "CT Image Storage", "Explicit VR Little Endian"),
    ("MR_small_implicit.dcm", "MR Image Storage", "Implicit VR Little Endian"),
    ("SC_rgb_jpeg_dcmtk.dcm", "Secondary Capture Image Storage", "JPEG Baseline (Process 1)"),
    ("SC_rgb_rle.dcm", "Secondary Capture Image Storage", "RLE Lossless"),
    ("US1_J2KR.dcm", "Ultrasound Image Storage", "JPEG 2000 Image Compression (Lossless Only)"),
    ("JPEG2000.dcm", "Secondary Capture Image Storage", "JPEG 2000 Image Compression"),
]


@pytest.fixture
def scu(dimse: RunningDimse) -> RunningDimse:
    """The front with the test SCU ("PYSCU" on 127.0.0.1) registered."""
    dimse.app.registry.add("pynetdicom", "PYSCU", "127.0.0.1", 104)
    return dimse


def test_c_echo_from_a_registered_scu_succeeds(scu: RunningDimse):
    with associate(scu.port, scu.ae_title, [(Verification, None)]) as association:
        assert association.send_c_echo().Status == 0x0000


def test_c_store_keeps_every_sop_class_and_transfer_syntax_byte_identical(scu: RunningDimse):
    files = [pydicom_file(name) for name, _, _ in STORE_CASES]
    headers = [pydicom.dcmread(path, stop_before_pixels=True) for path in files]
    for header, (name, sop_class, syntax) in zip(headers, STORE_CASES, strict=True):
        assert (header.SOPClassUID.name, header.file_meta.TransferSyntaxUID.name) == (
            sop_class, syntax), f"{name} is not the kind of file this test needs"
    contexts = [(h.SOPClassUID, [h.file_meta.TransferSyntaxUID]) for h in headers]
    with associate(scu.port, scu.ae_title, contexts) as association:
        statuses = [association.send_c_store(path).Status for path in files]
    assert statuses == [0x0000] * len(files)
    assert counts(scu.app)[3] == len(files)
    for path, header in zip(files, headers, strict=True):
        with scu.app.unit_of_work.read() as repo:
            stored = repo.find_instance(header.SOPInstanceUID)
        assert stored is not None, path.name
        stored_path = scu.app.store.path(stored.file.relpath)
        assert dataset_bytes(stored_path) == dataset_bytes(path), path.name
        stored_meta = pydicom.dcmread(stored_path, stop_before_pixels=True).file_meta
        assert stored_meta.TransferSyntaxUID == header.file_meta.TransferSyntaxUID


# -- C-FIND -------------------------------------------------------------------------------

@dataclass
class Archive:
    """A running front holding the C-FIND test data: study, series and instance UIDs by label."""

    front: RunningDimse
    studies: dict[str, str] = field(default_factory=dict)
    series: dict[str, str] = field(default_factory=dict)
    instances: dict[str, list[str]] = field(default_factory=dict)


# label → (patient, study date, modality)
STUDIES = {
    "john-2019": (PatientSpec("PAT-A", "DOE^JOHN"), "20191231", "CT"),
    "john-2020": (PatientSpec("PAT-A", "DOE^JOHN"), "20200101", "MR"),
    "jane-2020": (PatientSpec("PAT-B", "DOE^JANE", sex="F"), "20200615", "CT"),
    "yamada-2020": (PatientSpec("PAT-C", "山田^太郎"), "20201231", "CT"),
    "anna-2021": (PatientSpec("PAT-D", "SMITH^ANNA", sex="F"), "20210101", "MR"),
}
H31 = "H31EXAMPLE"  # pydicom's chrH31.dcm: ISO 2022 IR 87 (Japanese), no study date


@pytest.fixture(scope="module", params=BACKENDS)
def archive(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Archive]:
    """Five studies of four patients (two instances each) and the Japanese charset sample,
    behind one front per backend for the whole module (the C-FIND tests only read)."""
    database_url = ""
    if request.param == "postgresql":
        cluster = request.getfixturevalue("postgres_cluster")
        database_url = cluster.create_database()
    tmp_path = tmp_path_factory.mktemp("archive")
    running = start_front(tmp_path, database_url, accept_unregistered=False)
    try:
        front = next(running)
        front.app.registry.add("pynetdicom", "PYSCU", "127.0.0.1", 104)
        yield _fill(Archive(front), tmp_path)
    finally:
        running.close()
        if database_url:
            cluster.drop_database(database_url)


def _fill(stored: Archive, folder: Path) -> Archive:
    ingest = stored.front.app.ingest
    for label, (patient, study_date, modality) in STUDIES.items():
        study_uid, series_uid = generate_uid(), generate_uid()
        stored.studies[label], stored.series[label] = study_uid, series_uid
        stored.instances[label] = []
        for number in (1, 2):
            ds = ct_dataset(patient, study_uid, series_uid, number, size=8,
                            study_date=study_date, accession=f"ACC-{label}", modality=modality)
            path = folder / f"{label}-{number}.dcm"
            ds.save_as(path, enforce_file_format=True)
            ingest.ingest_file(path)
            stored.instances[label].append(str(ds.SOPInstanceUID))
    [h31] = get_charset_files("chrH31.dcm")
    ingest.ingest_file(Path(h31))
    return stored


def _identifier(level: str, **keys: object) -> Dataset:
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.QueryRetrieveLevel = level
    for keyword, value in keys.items():
        setattr(ds, keyword, value)
    return ds


def _find(running: RunningDimse, model: str, identifier: Dataset) -> tuple[int, list[Dataset]]:
    """(final status, pending identifiers) of one C-FIND."""
    with associate(running.port, running.ae_title, FIND_CONTEXTS) as association:
        return _find_on(association, model, identifier)


def _find_on(association, model: str, identifier: Dataset) -> tuple[int, list[Dataset]]:
    matches, final = [], None
    for status, found in association.send_c_find(identifier, model):
        assert "Status" in status, "no response to the C-FIND"
        if status.Status in PENDING:
            matches.append(found)
        else:
            final = int(status.Status)
    assert final is not None
    return final, matches


def _values(matches: list[Dataset], keyword: str) -> list[str]:
    return sorted(str(m.get(keyword, "")) for m in matches)


@pytest.mark.parametrize("model", [PATIENT_FIND, STUDY_FIND], ids=["patient-root", "study-root"])
@pytest.mark.parametrize(("study_date", "expected"), [
    ("20200615", ["jane-2020"]),
    ("20200101-", ["anna-2021", "jane-2020", "john-2020", "yamada-2020"]),
    ("-20201231", ["jane-2020", "john-2019", "john-2020", "yamada-2020"]),
    ("20200101-20201231", ["jane-2020", "john-2020", "yamada-2020"]),
], ids=["single", "from", "until", "between"])
def test_c_find_study_level_matches_dates_and_ranges(archive, model, study_date, expected):
    keys = {"StudyDate": study_date, "StudyInstanceUID": ""}
    if model == PATIENT_FIND:
        keys["PatientID"] = ""  # any patient: universal matching on the patient key
    status, matches = _find(archive.front, model, _identifier("STUDY", **keys))
    assert status == 0x0000
    assert _values(matches, "StudyInstanceUID") == sorted(archive.studies[e] for e in expected)


@pytest.mark.parametrize(("keys", "expected"), [
    ({"PatientID": "PAT-B"}, ["PAT-B"]),
    ({"PatientName": "doe*"}, ["PAT-A", "PAT-B"]),
    ({"PatientName": "DOE^JA?E"}, ["PAT-B"]),
    ({"PatientID": "PAT-?"}, ["PAT-A", "PAT-B", "PAT-C", "PAT-D"]),
    ({"PatientSex": "F", "PatientName": "*"}, ["PAT-B", "PAT-D"]),
    ({"PatientName": ""}, [H31, "PAT-A", "PAT-B", "PAT-C", "PAT-D"]),
], ids=["single", "wildcard-star", "wildcard-question", "wildcard-id", "sex", "universal"])
def test_c_find_patient_root_patient_level(archive, keys, expected):
    status, matches = _find(archive.front, PATIENT_FIND, _identifier("PATIENT", **{"PatientID": "", **keys}))
    assert status == 0x0000
    assert _values(matches, "PatientID") == expected


def test_c_find_uid_list_matches_each_listed_study(archive):
    wanted = [archive.studies["john-2019"], archive.studies["anna-2021"]]
    status, matches = _find(archive.front, STUDY_FIND, _identifier("STUDY", StudyInstanceUID=wanted))
    assert status == 0x0000
    assert _values(matches, "StudyInstanceUID") == sorted(wanted)


@pytest.mark.parametrize("model", [PATIENT_FIND, STUDY_FIND], ids=["patient-root", "study-root"])
def test_c_find_series_level_within_a_study(archive, model):
    keys = {"StudyInstanceUID": archive.studies["john-2020"], "SeriesInstanceUID": "",
            "Modality": "MR", "NumberOfSeriesRelatedInstances": ""}
    if model == PATIENT_FIND:
        keys["PatientID"] = "PAT-A"
    status, matches = _find(archive.front, model, _identifier("SERIES", **keys))
    assert status == 0x0000
    assert [(m.SeriesInstanceUID, m.Modality, int(m.NumberOfSeriesRelatedInstances))
            for m in matches] == [(archive.series["john-2020"], "MR", 2)]


@pytest.mark.parametrize("model", [PATIENT_FIND, STUDY_FIND], ids=["patient-root", "study-root"])
def test_c_find_image_level_with_a_uid_list_and_universal_matching(archive, model):
    study = archive.studies["jane-2020"]
    every = archive.instances["jane-2020"]
    keys = {"StudyInstanceUID": study, "SeriesInstanceUID": archive.series["jane-2020"],
            "SOPInstanceUID": "", "InstanceNumber": ""}
    if model == PATIENT_FIND:
        keys["PatientID"] = "PAT-B"
    status, matches = _find(archive.front, model, _identifier("IMAGE", **keys))
    assert status == 0x0000
    assert _values(matches, "SOPInstanceUID") == sorted(every)
    assert sorted(int(m.InstanceNumber) for m in matches) == [1, 2]
    keys["SOPInstanceUID"] = [every[1], "1.2.3.4.5.6.7"]
    status, matches = _find(archive.front, model, _identifier("IMAGE", **keys))
    assert status == 0x0000
    assert _values(matches, "SOPInstanceUID") == [every[1]]


def test_c_find_returns_only_the_requested_keys_empty_when_unknown(archive):
    requested = {"PatientName": "", "StudyInstanceUID": archive.studies["jane-2020"],
                 "StudyDate": "", "ReferringPhysicianName": "", "PatientComments": "",
                 "NumberOfStudyRelatedInstances": ""}
    status, [match] = _find(archive.front, STUDY_FIND, _identifier("STUDY", **requested))
    assert status == 0x0000
    returned = {element.keyword for element in match}
    assert returned - ALWAYS_ALLOWED == set(requested)
    assert match.QueryRetrieveLevel == "STUDY"
    assert str(match.PatientName) == "DOE^JANE"
    assert match.StudyDate == "20200615"
    assert int(match.NumberOfStudyRelatedInstances) == 2
    assert match["ReferringPhysicianName"].is_empty
    assert match["PatientComments"].is_empty
    assert "AccessionNumber" not in match and "PatientID" not in match


def test_c_find_answers_japanese_names_in_utf8(archive):
    status, matches = _find(archive.front, STUDY_FIND, _identifier(
        "STUDY", PatientName="山田*", PatientID="", StudyInstanceUID=""))
    assert status == 0x0000
    by_id = {m.PatientID: m for m in matches}
    assert set(by_id) == {"PAT-C", H31}  # alphabetic group of one, ideographic of the other
    for match in matches:
        assert match.SpecificCharacterSet == "ISO_IR 192"
    assert str(by_id["PAT-C"].PatientName) == "山田^太郎"
    assert str(by_id[H31].PatientName) == "Yamada^Tarou=山田^太郎=やまだ^たろう"


def test_study_root_patient_level_is_refused_with_a900(archive):
    status, matches = _find(archive.front, STUDY_FIND, _identifier("PATIENT", PatientID=""))
    assert (status, matches) == (IDENTIFIER_MISMATCH, [])


def test_malformed_date_fails_with_a900_and_the_association_keeps_working(archive):
    bad = _identifier("STUDY", StudyInstanceUID="")
    with warnings.catch_warnings():  # pydicom warns about the value this test means to send
        warnings.simplefilter("ignore")
        bad.add_new("StudyDate", "DA", "2020-01-01")  # neither YYYYMMDD nor a DICOM range
    with associate(archive.front.port, archive.front.ae_title, FIND_CONTEXTS + [(Verification, None)]) as association:
        assert _find_on(association, STUDY_FIND, bad) == (IDENTIFIER_MISMATCH, [])
        status, matches = _find_on(association, STUDY_FIND,
                                   _identifier("STUDY", StudyDate="20200615", StudyInstanceUID=""))
        assert status == 0x0000
        assert _values(matches, "StudyInstanceUID") == [archive.studies["jane-2020"]]
        assert association.send_c_echo().Status == 0x0000


# -- C-CANCEL -----------------------------------------------------------------------------

def _many_instances(running: RunningDimse, folder: Path, count: int) -> str:
    """Store ``count`` tiny instances in one series; return the study UID."""
    files = write_ct_series(folder, count, size=4)
    results = list(running.app.ingest.ingest_stream(files))
    assert all(not hasattr(result, "error") for _, result in results)
    return str(pydicom.dcmread(files[0], stop_before_pixels=True).StudyInstanceUID)


def test_c_cancel_stops_a_large_c_find(scu: RunningDimse, tmp_path: Path):
    total = 400
    study = _many_instances(scu, tmp_path / "many", total)
    query = _identifier("IMAGE", StudyInstanceUID=study, SOPInstanceUID="", InstanceNumber="")
    pending, final = 0, None
    with associate(scu.port, scu.ae_title, FIND_CONTEXTS) as association:
        for status, _found in association.send_c_find(query, STUDY_FIND, msg_id=7):
            if status.Status in PENDING:
                pending += 1
                if pending == 1:  # as dcmtk's findscu --cancel 1 does
                    association.send_c_cancel(7, context_id(association, STUDY_FIND))
            else:
                final = int(status.Status)
        # the association still answers after the cancelled query
        status, matches = _find_on(association, STUDY_FIND, _identifier(
            "STUDY", StudyInstanceUID=study, NumberOfStudyRelatedInstances=""))
    assert final == CANCEL
    assert pending < total
    assert status == 0x0000 and int(matches[0].NumberOfStudyRelatedInstances) == total


def test_c_cancel_stops_a_c_get(scu: RunningDimse, tmp_path: Path):
    total = 10
    study = _many_instances(scu, tmp_path / "many", total)
    received: list[str] = []

    def on_store(event):
        received.append(str(event.request.AffectedSOPInstanceUID))
        if len(received) == 1:  # cancel while the retrieve is under way
            event.assoc.send_c_cancel(9, context_id(event.assoc, STUDY_GET))
        return 0x0000

    with associate(scu.port, scu.ae_title, [(STUDY_GET, None), (CTImageStorage, None)],
                   ext_neg=[build_role(CTImageStorage, scp_role=True)],
                   handlers=[(evt.EVT_C_STORE, on_store)]) as association:
        statuses = [status for status, _ in association.send_c_get(
            _identifier("STUDY", StudyInstanceUID=study), STUDY_GET, msg_id=9)]
    final = statuses[-1]
    assert final.Status == CANCEL
    assert 1 <= len(received) < total
    assert int(final.NumberOfCompletedSuboperations) == len(received)
    assert int(final.NumberOfRemainingSuboperations) == total - len(received)
