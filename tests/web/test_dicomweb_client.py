"""The dicomweb-client package against a running slidepacs: store, search at every level,
retrieve studies, series, instances, metadata and bulk data."""

from __future__ import annotations

from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset

from slidepacs.testing.generators import write_ct_series
from tests.web.conftest import Web

RADIOLOGY_SAMPLES = ["CT_small.dcm", "MR_small.dcm", "JPEG2000.dcm", "emri_small.dcm"]


def _ct(tmp_path: Path, count: int = 3, **changes: str) -> list[Dataset]:
    datasets = []
    for path in write_ct_series(tmp_path / f"ct{len(changes)}", count, size=32):
        dataset = pydicom.dcmread(path)
        for keyword, value in changes.items():
            setattr(dataset, keyword, value)
        datasets.append(dataset)
    return datasets


def _samples() -> list[Dataset]:
    return [pydicom.dcmread(get_testdata_file(name)) for name in RADIOLOGY_SAMPLES]


def _uids(datasets: list[Dataset], keyword: str) -> set[str]:
    return {str(dataset[keyword].value) for dataset in datasets}


def test_stored_instances_are_found_at_every_level(web: Web, tmp_path: Path) -> None:
    client = web.dicomweb()
    ct = _ct(tmp_path, 3, PatientID="P-CT", PatientName="Doe^Jane", StudyDate="20240105")
    samples = _samples()
    answer = client.store_instances(ct + samples)
    assert len(answer.ReferencedSOPSequence) == len(ct) + len(samples)
    assert "FailedSOPSequence" not in answer
    studies = client.search_for_studies()
    assert {s["0020000D"]["Value"][0] for s in studies} == _uids(ct + samples,
                                                                   "StudyInstanceUID")
    [jane] = client.search_for_studies(search_filters={"PatientName": "doe*"})
    assert jane["00100020"]["Value"] == ["P-CT"]
    assert jane["00201208"]["Value"] == [3]  # NumberOfStudyRelatedInstances
    assert jane["00081190"]["Value"][0].endswith(f"/studies/{ct[0].StudyInstanceUID}")
    in_range = client.search_for_studies(search_filters={"StudyDate": "20240101-20240131"})
    assert [s["0020000D"]["Value"][0] for s in in_range] == [ct[0].StudyInstanceUID]
    series = client.search_for_series(ct[0].StudyInstanceUID)
    assert [s["0020000E"]["Value"][0] for s in series] == [ct[0].SeriesInstanceUID]
    instances = client.search_for_instances(ct[0].StudyInstanceUID, ct[0].SeriesInstanceUID)
    assert {i["00080018"]["Value"][0] for i in instances} == _uids(ct, "SOPInstanceUID")
    mr = client.search_for_series(search_filters={"Modality": "MR"})
    assert _uids(samples, "SeriesInstanceUID") >= {s["0020000E"]["Value"][0] for s in mr}
    assert len(mr) == sum(1 for s in samples if s.Modality == "MR")


def test_limit_offset_and_uid_lists_page_and_select_matches(web: Web, tmp_path: Path) -> None:
    client = web.dicomweb()
    ct = _ct(tmp_path, 5)
    client.store_instances(ct)
    study, series = ct[0].StudyInstanceUID, ct[0].SeriesInstanceUID
    everything = client.search_for_instances(study, series)
    pages = [client.search_for_instances(study, series, limit=2, offset=offset)
             for offset in (0, 2, 4)]
    assert [len(page) for page in pages] == [2, 2, 1]
    assert [i["00080018"] for page in pages for i in page] == [i["00080018"] for i in everything]
    wanted = [ct[1].SOPInstanceUID, ct[3].SOPInstanceUID]
    chosen = client.search_for_instances(search_filters={"SOPInstanceUID": wanted})
    assert {i["00080018"]["Value"][0] for i in chosen} == set(wanted)


def test_retrieved_instances_are_the_stored_bytes(web: Web, tmp_path: Path) -> None:
    client = web.dicomweb()
    samples = _samples()
    client.store_instances(samples)
    for sample in samples:
        got = client.retrieve_instance(sample.StudyInstanceUID, sample.SeriesInstanceUID,
                                       sample.SOPInstanceUID)
        assert got.SOPInstanceUID == sample.SOPInstanceUID
        assert got.file_meta.TransferSyntaxUID == sample.file_meta.TransferSyntaxUID
        assert got.PixelData == sample.PixelData
    ct = _ct(tmp_path, 4)
    client.store_instances(ct)
    series = client.retrieve_series(ct[0].StudyInstanceUID, ct[0].SeriesInstanceUID)
    assert _uids(series, "SOPInstanceUID") == _uids(ct, "SOPInstanceUID")
    study = client.retrieve_study(ct[0].StudyInstanceUID)
    assert sorted(d.InstanceNumber for d in study) == sorted(d.InstanceNumber for d in ct)


def test_metadata_refers_to_bulk_data_that_retrieves_the_values(web: Web) -> None:
    client = web.dicomweb()
    sample = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    client.store_instances([sample])
    uids = (sample.StudyInstanceUID, sample.SeriesInstanceUID, sample.SOPInstanceUID)
    metadata = client.retrieve_instance_metadata(*uids)
    assert metadata["00100010"]["Value"] == [{"Alphabetic": str(sample.PatientName)}]
    pixel_reference = metadata["7FE00010"]["BulkDataURI"]
    assert pixel_reference.endswith("/bulkdata/7FE00010")
    [pixels] = client.retrieve_bulkdata(pixel_reference)
    assert pixels == sample.PixelData
    [study_metadata] = client.retrieve_study_metadata(sample.StudyInstanceUID)
    assert study_metadata["00080018"]["Value"] == [sample.SOPInstanceUID]
    assert len(client.retrieve_series_metadata(*uids[:2])) == 1


def test_storing_the_same_instances_again_succeeds_without_copies(web: Web,
                                                                 tmp_path: Path) -> None:
    client = web.dicomweb()
    ct = _ct(tmp_path, 2)
    client.store_instances(ct)
    again = client.store_instances(ct)
    assert len(again.ReferencedSOPSequence) == 2
    assert len(client.search_for_instances()) == 2


@pytest.mark.parametrize("level", ["studies", "series", "instances"])
def test_includefield_all_and_a_tag_are_accepted(web: Web, tmp_path: Path, level: str) -> None:
    web.dicomweb().store_instances(_ct(tmp_path, 1))
    for include in ("all", "00081030", "StudyDescription"):
        answer = web.http.get(f"/{level}", params={"includefield": include})
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"].startswith("application/dicom+json")
        assert len(answer.json()) == 1
