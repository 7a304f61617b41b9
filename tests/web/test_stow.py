"""STOW-RS stores each part exactly as sent with the checksum of its bytes (hashed while it was
received), indexes a request's parts together while each keeps its own result, and a disk that
fills up while a body arrives fails the request and leaves nothing."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pydicom
import pytest

from slidepacs.domain.query import Level, Query
from slidepacs.testing.generators import write_ct_series
from slidepacs.web.multipart import new_boundary
from tests.helpers import stored_files
from tests.web.conftest import Web, start_web

DICOM_PARTS = 'multipart/related; type="application/dicom"; boundary={}'


def _body(parts: list[bytes], boundary: str) -> bytes:
    pieces = [f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode() + part + b"\r\n"
              for part in parts]
    return b"".join(pieces) + f"--{boundary}--\r\n".encode()


def _post(web: Web, files: list[bytes], route: str = "/studies") -> dict:
    boundary = new_boundary()
    answer = web.http.post(route, content=_body(files, boundary),
                           headers={"Content-Type": DICOM_PARTS.format(boundary)})
    return {"status": answer.status_code, **answer.json()}


@pytest.mark.parametrize("size", [64, 1200])  # ~8 KB parts, held; ~2.9 MB parts, held
def test_every_part_is_stored_as_sent_and_its_checksum_verifies(web: Web, tmp_path: Path,
                                                                size: int) -> None:
    paths = write_ct_series(tmp_path / "ct", 4, size=size)
    sent = [p.read_bytes() for p in paths]
    answer = _post(web, sent)
    assert answer["status"] == 200 and len(answer["00081199"]["Value"]) == 4
    stored = {pydicom.dcmread(web.app.store.path(f)).SOPInstanceUID: web.app.store.path(f)
              for f in stored_files(web.app)[web.app.store.locations[0]]}
    for data, path in zip(sent, paths, strict=True):
        assert stored[pydicom.dcmread(path).SOPInstanceUID].read_bytes() == data
    report = web.app.storage_check.verify()
    assert report.files == 4 and not report.problems  # the index's checksums are the bytes'


def test_a_larger_part_is_written_in_pieces_and_stored_as_sent(web: Web, tmp_path: Path) -> None:
    [path] = write_ct_series(tmp_path / "ct", 1, size=2200)  # ~9.7 MB: beyond one buffer
    answer = _post(web, [path.read_bytes()])
    assert answer["status"] == 200
    [stored] = stored_files(web.app)[web.app.store.locations[0]]
    assert web.app.store.path(stored).read_bytes() == path.read_bytes()
    assert web.app.storage_check.verify().problems == []


def test_a_part_of_another_study_fails_alone_naming_its_instance(web: Web,
                                                                 tmp_path: Path) -> None:
    [mine] = write_ct_series(tmp_path / "mine", 1, size=32)
    [other] = write_ct_series(tmp_path / "other", 1, size=32)
    study = pydicom.dcmread(mine).StudyInstanceUID
    answer = _post(web, [mine.read_bytes(), other.read_bytes()], route=f"/studies/{study}")
    assert answer["status"] == 202
    [stored] = answer["00081199"]["Value"]
    [failed] = answer["00081198"]["Value"]
    assert stored["00081155"]["Value"] == [pydicom.dcmread(mine).SOPInstanceUID]
    assert failed["00081155"]["Value"] == [pydicom.dcmread(other).SOPInstanceUID]
    assert failed["00081197"]["Value"] == [0xA900]  # mismatch
    assert web.app.query.count(Query(Level.IMAGE)) == 1
    assert len(stored_files(web.app)[web.app.store.locations[0]]) == 1  # no temporary left


@pytest.fixture
def small_disk_web(tmp_path: Path, database_url: str) -> Iterator[Web]:
    """An HTTP front whose data path (and SQLite index) is a 6 MB tmpfs."""
    data = tmp_path / "data"
    data.mkdir()
    try:
        mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", str(data)],
                                 capture_output=True, text=True, timeout=30)
    except FileNotFoundError:
        pytest.skip("no mount command: cannot make a small disk for the data path")
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs for the data path (needs root): {mounted.stderr}")
    try:
        yield from start_web(tmp_path, database_url)
    finally:
        if subprocess.run(["umount", str(data)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "--lazy", str(data)], check=True)


def test_a_disk_that_fills_while_a_body_arrives_fails_the_request_and_keeps_nothing(
        small_disk_web: Web, tmp_path: Path) -> None:
    paths = write_ct_series(tmp_path / "ct", 8, size=1000)  # 8 × ~2 MB for a 6 MB disk
    answer = _post(small_disk_web, [p.read_bytes() for p in paths])
    assert answer["status"] == 500
    assert "cannot write a received part" in answer["detail"]
    assert small_disk_web.app.query.count(Query(Level.IMAGE)) == 0
    assert not any(stored_files(small_disk_web.app).values())
    # the archive still works once there is room
    [small] = write_ct_series(tmp_path / "small", 1, size=32)
    assert _post(small_disk_web, [small.read_bytes()])["status"] == 200
