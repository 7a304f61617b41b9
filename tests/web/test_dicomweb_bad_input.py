"""Bad DICOMweb requests get a clear HTTP error and change nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_testdata_file

from slidepacs.domain.query import Level, Query
from slidepacs.domain.tokens import new_token
from slidepacs.web.multipart import new_boundary
from tests.helpers import stored_files
from tests.web.conftest import Web, start_web

DICOM_PARTS = 'multipart/related; type="application/dicom"; boundary={}'


def _body(parts: list[bytes], boundary: str) -> bytes:
    body = b""
    for part in parts:
        body += f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode() + part
        body += b"\r\n"
    return body + f"--{boundary}--\r\n".encode()


def _sample_bytes() -> bytes:
    return Path(get_testdata_file("CT_small.dcm")).read_bytes()


def _nothing_stored(web: Web) -> bool:
    """No instance indexed and no file (not even a temporary one) in any location."""
    indexed = web.app.query.count(Query(Level.IMAGE))
    return indexed == 0 and not any(stored_files(web.app).values())


@pytest.mark.parametrize(("query", "named"), [
    ({"PatientBirthDate": "2020"}, "PatientBirthDate"),
    ({"NoSuchKeyword": "x"}, "NoSuchKeyword"),
    ({"limit": "-1"}, "limit"),
    ({"offset": "many"}, "offset"),
    ({"fuzzymatching": "maybe"}, "fuzzymatching"),
    ({"StudyInstanceUID": "1.2.abc"}, "StudyInstanceUID"),
    ({"SOPInstanceUID": "1.2.3"}, "SOPInstanceUID"),  # an instance key in a study search
    ({"includefield": "NotAnAttribute"}, "NotAnAttribute"),
])
def test_malformed_search_parameters_get_400_naming_the_parameter(
    web: Web, query: dict[str, str], named: str
) -> None:
    answer = web.http.get("/studies", params=query)
    assert answer.status_code == 400
    assert named in answer.json()["detail"]


def test_unknown_uids_get_404(web: Web) -> None:
    web.dicomweb().store_instances([pydicom.dcmread(get_testdata_file("CT_small.dcm"))])
    for path in ("/studies/1.2.3", "/studies/1.2.3/metadata", "/studies/1.2.3/series/4.5",
                 "/studies/1.2.3/series/4.5/instances/6.7/metadata"):
        answer = web.http.get(path)
        assert answer.status_code == 404, path
        assert "1.2.3" in answer.json()["detail"]


def test_an_unsatisfiable_accept_gets_406(web: Web) -> None:
    sample = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    web.dicomweb().store_instances([sample])
    study = f"/studies/{sample.StudyInstanceUID}"
    assert web.http.get(study, headers={"Accept": "image/png"}).status_code == 406
    other_syntax = 'multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.4.50'
    answer = web.http.get(study, headers={"Accept": other_syntax})
    assert answer.status_code == 406
    assert "transcoding" in answer.json()["detail"]
    assert web.http.get("/studies", headers={"Accept": "application/xml"}).status_code == 406
    assert web.http.get(f"{study}/metadata", headers={"Accept": "text/html"}).status_code == 406


def test_an_oversized_stow_body_gets_413_and_stores_nothing(tmp_path: Path,
                                                            database_url: str) -> None:
    web_run = start_web(tmp_path, database_url, max_upload_mb=1)
    web = next(web_run)
    try:
        boundary = new_boundary()
        body = _body([_sample_bytes()] * 30, boundary)  # ~1.2 MB
        declared = web.http.post("/studies", content=body,
                                 headers={"Content-Type": DICOM_PARTS.format(boundary)})
        assert declared.status_code == 413
        assert "max_upload_mb" in declared.json()["detail"]
        streamed = web.http.post("/studies", content=_chunks(body),  # no Content-Length
                                 headers={"Content-Type": DICOM_PARTS.format(boundary)})
        assert streamed.status_code == 413
        assert _nothing_stored(web)
    finally:
        web_run.close()


def _chunks(body: bytes) -> Iterator[bytes]:
    for start in range(0, len(body), 64 * 1024):
        yield body[start:start + 64 * 1024]


@pytest.mark.parametrize(("after_a_good_part", "body"), [
    (True, b"this is not multipart at all"),
    (True, b"--BOUNDARY\r\nContent-Type: application/dicom\r\n\r\n" + b"DICM" * 10),
    (True, b"--BOUNDARY\r\nno header separator"),
    (False, b"no boundary anywhere"),
    (False, b"--BOUNDARY--\r\n"),
], ids=["garbage-after-part", "unterminated-part", "broken-headers", "no-boundary", "no-parts"])
def test_a_garbage_multipart_body_gets_400_and_stores_nothing(
    web: Web, after_a_good_part: bool, body: bytes
) -> None:
    good_part = _body([_sample_bytes()], "BOUNDARY")[:-len(b"--BOUNDARY--\r\n")]
    answer = web.http.post("/studies", content=(good_part if after_a_good_part else b"") + body,
                           headers={"Content-Type": DICOM_PARTS.format("BOUNDARY")})
    assert answer.status_code == 400
    assert "multipart" in answer.json()["detail"]
    assert _nothing_stored(web)


def test_stow_takes_only_multipart_related_dicom(web: Web) -> None:
    answer = web.http.post("/studies", content=_sample_bytes(),
                           headers={"Content-Type": "application/dicom"})
    assert answer.status_code == 415
    assert _nothing_stored(web)


def test_a_part_that_is_not_dicom_fails_alone(web: Web) -> None:
    boundary = new_boundary()
    body = _body([_sample_bytes(), b"not a DICOM file"], boundary)
    answer = web.http.post("/studies", content=body,
                           headers={"Content-Type": DICOM_PARTS.format(boundary)})
    assert answer.status_code == 202
    result = answer.json()
    assert len(result["00081199"]["Value"]) == 1  # ReferencedSOPSequence
    [failed] = result["00081198"]["Value"]        # FailedSOPSequence
    assert failed["00081197"]["Value"] == [0xC000]  # FailureReason: cannot understand
    assert len(web.http.get("/instances").json()) == 1


def test_an_instance_of_another_study_is_refused_by_the_study_route(web: Web) -> None:
    boundary = new_boundary()
    answer = web.http.post("/studies/1.2.3", content=_body([_sample_bytes()], boundary),
                           headers={"Content-Type": DICOM_PARTS.format(boundary)})
    assert answer.status_code == 409
    [failed] = answer.json()["00081198"]["Value"]
    assert failed["00081197"]["Value"] == [0xA900]
    assert _nothing_stored(web)


def test_token_access_refuses_requests_without_a_valid_token(tmp_path: Path,
                                                             database_url: str) -> None:
    token, digest = new_token()
    web_run = start_web(tmp_path, database_url, access="token", token_sha256=[digest])
    web = next(web_run)
    try:
        assert web.http.get("/studies").status_code == 401
        wrong = web.http.get("/studies", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        assert wrong.headers["www-authenticate"].startswith("Bearer")
        boundary = new_boundary()
        refused = web.http.post("/studies", content=_body([_sample_bytes()], boundary),
                                headers={"Content-Type": DICOM_PARTS.format(boundary)})
        assert refused.status_code == 401
        assert _nothing_stored(web)
        client = web.dicomweb(headers={"Authorization": f"Bearer {token}"})
        client.store_instances([pydicom.dcmread(get_testdata_file("CT_small.dcm"))])
        assert len(client.search_for_studies()) == 1
    finally:
        web_run.close()
