"""The radiology viewer's API (``/viewer/api/radiology/...``) on SQLite and PostgreSQL: a
series' images in display order with their display attributes, for any logged-in role."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid

from tests.web.conftest import Web, start_web

PASSWORD = "radiology reader 1"


@pytest.fixture
def web(tmp_path: Path, database_url: str) -> Iterator[Web]:
    """An archive that needs a log-in (access "accounts": no anonymous DICOMweb)."""
    yield from start_web(tmp_path, database_url, access="accounts")


@pytest.fixture
def viewer(web: Web) -> Iterator[httpx.Client]:
    """A client logged in as a plain user (role ``user``)."""
    web.app.accounts.add("reader", "user", PASSWORD)
    with httpx.Client(base_url=web.root.removesuffix("/dicom-web"), timeout=60) as client:
        answer = client.post("/viewer/api/login",
                             json={"username": "reader", "password": PASSWORD})
        assert answer.status_code == 200, answer.text
        yield client


def _ct_series(web: Web, folder: Path, numbers_and_z: list[tuple[int, float]]
               ) -> tuple[str, str, dict[int, str]]:
    """Copies of CT_small.dcm in one series (files written in the order given)."""
    folder.mkdir()
    study, series = generate_uid(), generate_uid()
    ct = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    sops = {}
    for number, z in numbers_and_z:
        ct.StudyInstanceUID, ct.SeriesInstanceUID = study, series
        ct.SOPInstanceUID = ct.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        ct.InstanceNumber, ct.ImagePositionPatient = number, [-158.1, -179.0, z]
        ct.save_as(folder / f"{number}.dcm")
        web.app.ingest.ingest_file(folder / f"{number}.dcm")
        sops[number] = ct.SOPInstanceUID
    return study, series, sops


def _series(client: httpx.Client, study: str, series: str) -> httpx.Response:
    return client.get(f"/viewer/api/radiology/studies/{study}/series/{series}")


def test_a_series_comes_in_slice_order_with_what_shapes_its_display(
        web: Web, viewer: httpx.Client, tmp_path: Path) -> None:
    # numbers run against the positions (z falls as the number rises), files shuffled
    study, series, sops = _ct_series(web, tmp_path / "ct",
                                     [(2, -10.0), (4, -20.0), (1, -5.0), (3, -15.0)])
    answer = _series(viewer, study, series)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert [image["sop"] for image in body["images"]] == [sops[n] for n in (1, 2, 3, 4)]
    assert (body["modality"], body["patient_name"], body["patient_id"], body["study_date"]) \
        == ("CT", "CompressedSamples^CT1", "1CT1", "20040119")
    first = body["images"][0]
    assert first["number"] == 1 and first["position"] == pytest.approx([-158.1, -179.0, -5.0])
    assert (first["rows"], first["columns"], first["frames"]) == (128, 128, 1)
    assert first["spacing"] == pytest.approx([0.661468, 0.661468])
    assert first["spacing_source"] == "PixelSpacing"
    assert first["window"] is None  # CT_small has none: the viewer shows the full range
    assert (first["slope"], first["intercept"]) == (1.0, -1024.0)
    assert (first["photometric"], first["bits_stored"], first["bits_allocated"],
            first["signed"]) == ("MONOCHROME2", 16, 16, True)


def test_a_multi_frame_image_without_spacing_and_a_windowed_image(
        web: Web, viewer: httpx.Client, tmp_path: Path) -> None:
    folder = tmp_path / "mr"
    folder.mkdir()
    study = generate_uid()
    uids = {}
    for name in ("emri_small.dcm", "MR_small.dcm"):
        mr = pydicom.dcmread(get_testdata_file(name))
        mr.StudyInstanceUID, mr.SeriesInstanceUID = study, generate_uid()
        mr.PatientID = "MR-1"
        mr.save_as(folder / name)
        web.app.ingest.ingest_file(folder / name)
        uids[name] = mr.SeriesInstanceUID
    [multi] = _series(viewer, study, uids["emri_small.dcm"]).json()["images"]
    assert multi["frames"] == 10
    assert multi["spacing"] is None and multi["spacing_source"] == ""
    [windowed] = _series(viewer, study, uids["MR_small.dcm"]).json()["images"]
    assert windowed["window"] == {"center": 600.0, "width": 1600.0}
    assert windowed["spacing"] == pytest.approx([0.3125, 0.3125])


def test_the_series_api_needs_a_session(web: Web, tmp_path: Path) -> None:
    study, series, _sops = _ct_series(web, tmp_path / "ct", [(1, 0.0)])
    with httpx.Client(base_url=web.root.removesuffix("/dicom-web"), timeout=60) as anonymous:
        assert _series(anonymous, study, series).status_code == 401


@pytest.mark.parametrize("study, series, named", [
    ("1.2.abc", "1.2.3", "StudyInstanceUID"),
    ("1.2.3", "1.2.3*", "SeriesInstanceUID"),
    ("1.2.3", "9" * 65, "SeriesInstanceUID"),
])
def test_a_malformed_uid_is_refused_naming_it(viewer: httpx.Client, study: str, series: str,
                                              named: str) -> None:
    answer = _series(viewer, study, series)
    assert answer.status_code == 400
    assert named in answer.json()["detail"]


def test_an_unknown_series_is_not_found(web: Web, viewer: httpx.Client,
                                        tmp_path: Path) -> None:
    study, _series_uid, _sops = _ct_series(web, tmp_path / "ct", [(1, 0.0)])
    answer = _series(viewer, study, "1.2.3.4")
    assert answer.status_code == 404
    assert "1.2.3.4" in answer.json()["detail"]
