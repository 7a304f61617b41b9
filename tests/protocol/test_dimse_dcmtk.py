"""The DICOM front driven by dcmtk's own tools (echoscu, storescu, findscu, getscu, movescu)."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pydicom

from slidepacs.testing.generators import PatientSpec, write_ct_series
from tests.helpers import counts
from tests.protocol.conftest import RunningDimse, free_port

ENV = {**os.environ, "TCP_NODELAY": "1"}


def dcmtk(*args: str, timeout: int = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in args], capture_output=True, text=True,
                          timeout=timeout, env=ENV)


def test_echoscu_from_a_registered_ae_succeeds(dimse: RunningDimse):
    dimse.app.registry.add("tester", "ECHOSCU", "127.0.0.1", 104)
    result = dcmtk("echoscu", "-aet", "ECHOSCU", "-aec", dimse.ae_title, "127.0.0.1", dimse.port)
    assert result.returncode == 0, result.stderr


def test_echoscu_from_an_unknown_ae_is_rejected_as_calling_ae_not_recognised(dimse: RunningDimse):
    result = dcmtk("echoscu", "-aet", "STRANGER", "-aec", dimse.ae_title, "127.0.0.1", dimse.port)
    assert result.returncode != 0
    assert "Calling AE Title Not Recognized" in (result.stdout + result.stderr)


def test_registered_title_from_the_wrong_address_is_rejected(dimse: RunningDimse):
    dimse.app.registry.add("elsewhere", "FARAWAY", "10.9.8.7", 104)
    result = dcmtk("echoscu", "-aet", "FARAWAY", "-aec", dimse.ae_title, "127.0.0.1", dimse.port)
    assert result.returncode != 0
    assert "Calling AE Title Not Recognized" in (result.stdout + result.stderr)


def test_wrong_called_ae_title_is_rejected(dimse: RunningDimse):
    dimse.app.registry.add("tester", "ECHOSCU", "127.0.0.1", 104)
    result = dcmtk("echoscu", "-aet", "ECHOSCU", "-aec", "NOT_US", "127.0.0.1", dimse.port)
    assert result.returncode != 0
    assert "Called AE Title Not Recognized" in (result.stdout + result.stderr)


def test_storescu_stores_a_series_exactly_as_sent(open_dimse: RunningDimse, tmp_path: Path):
    files = write_ct_series(tmp_path / "ct", 5, size=64)
    result = dcmtk("storescu", "-aet", "MODALITY", "-aec", open_dimse.ae_title,
                   "127.0.0.1", open_dimse.port, *files)
    assert result.returncode == 0, result.stderr
    assert counts(open_dimse.app) == (1, 1, 1, 5)
    for source in files:
        uid = pydicom.dcmread(source, stop_before_pixels=True).SOPInstanceUID
        with open_dimse.app.unit_of_work.read() as repo:
            stored = repo.find_instance(uid)
        assert stored is not None
        stored_ds = pydicom.dcmread(open_dimse.app.store.path(stored.file.relpath))
        assert stored_ds.PixelData == pydicom.dcmread(source).PixelData
    assert open_dimse.app.registry.get("MODALITY").auto_registered


def _store(dimse: RunningDimse, tmp_path: Path) -> list[Path]:
    dimse.app.registry.add("tester", "TESTSCU", "127.0.0.1", 104)
    files = write_ct_series(tmp_path / "ct", 3, PatientSpec("PID-77", "MÜLLER^ÄNNE"), size=32)
    for path in files:
        dimse.app.ingest.ingest_file(path)
    return files


def test_findscu_study_level_returns_matches_from_the_index(dimse: RunningDimse, tmp_path: Path):
    _store(dimse, tmp_path)
    result = dcmtk("findscu", "-v", "-S", "-aet", "TESTSCU", "-aec", dimse.ae_title,
                   "-k", "SpecificCharacterSet=ISO_IR 192",
                   "-k", "QueryRetrieveLevel=STUDY", "-k", "PatientName=müller*",
                   "-k", "StudyInstanceUID", "-k", "NumberOfStudyRelatedInstances",
                   "-k", "ModalitiesInStudy", "127.0.0.1", dimse.port)
    assert result.returncode == 0, result.stderr
    output = result.stdout + result.stderr
    assert re.search(r"IS \[3 ?\]\s+#.*NumberOfStudyRelatedInstances", output)
    assert re.search(r"PN \[MÜLLER\^ÄNNE ?\]", output)
    assert output.count("(Pending)") == 1


def test_getscu_retrieves_a_study_on_the_same_association(dimse: RunningDimse, tmp_path: Path):
    files = _store(dimse, tmp_path)
    study_uid = pydicom.dcmread(files[0], stop_before_pixels=True).StudyInstanceUID
    out = tmp_path / "got"
    out.mkdir()
    result = dcmtk("getscu", "-S", "-aet", "TESTSCU", "-aec", dimse.ae_title, "-od", out,
                   "-k", "QueryRetrieveLevel=STUDY", "-k", f"StudyInstanceUID={study_uid}",
                   "127.0.0.1", dimse.port)
    assert result.returncode == 0, result.stderr
    received = sorted(pydicom.dcmread(p).SOPInstanceUID for p in out.iterdir())
    sent = sorted(pydicom.dcmread(p).SOPInstanceUID for p in files)
    assert received == sent


def test_movescu_sends_a_study_to_a_registered_destination(dimse: RunningDimse, tmp_path: Path):
    files = _store(dimse, tmp_path)
    study_uid = pydicom.dcmread(files[0], stop_before_pixels=True).StudyInstanceUID
    port = free_port()
    out = tmp_path / "moved"
    out.mkdir()
    dimse.app.registry.add("receiver", "MOVEDEST", "127.0.0.1", port)
    result = dcmtk("movescu", "-S", "-aet", "TESTSCU", "-aec", dimse.ae_title, "-aem", "MOVEDEST",
                   "--port", port, "-od", out, "-k", "QueryRetrieveLevel=STUDY",
                   "-k", f"StudyInstanceUID={study_uid}", "127.0.0.1", dimse.port)
    assert result.returncode == 0, result.stderr
    assert len(list(out.iterdir())) == len(files)


def test_movescu_to_an_unknown_destination_fails_with_a801(dimse: RunningDimse, tmp_path: Path):
    files = _store(dimse, tmp_path)
    study_uid = pydicom.dcmread(files[0], stop_before_pixels=True).StudyInstanceUID
    result = dcmtk("movescu", "-v", "-S", "-aet", "TESTSCU", "-aec", dimse.ae_title, "-aem", "NOBODY",
                   "-k", "QueryRetrieveLevel=STUDY", "-k", f"StudyInstanceUID={study_uid}",
                   "127.0.0.1", dimse.port)
    output = result.stdout + result.stderr
    assert "Refused: MoveDestinationUnknown" in output
