"""Bad input against a running DICOM front, on SQLite and PostgreSQL: malformed PDUs, data
sets that contradict their request or transfer syntax, associations cut off in the middle of
a large data set, and a disk that fills up. Each time the server answers (A-ABORT, a failure
status) or closes, keeps serving, indexes nothing of it and leaves no temporary file."""

from __future__ import annotations

import os
import struct
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pydicom
import pytest
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom.sop_class import CTImageStorage, MRImageStorage, Verification

from slidepacs.storage.received_file import HELD_BYTES, IN_FLIGHT
from slidepacs.storage.filesystem import INCOMING
from slidepacs.testing.generators import (
    MULTIFRAME_TRUE_COLOR_SC,
    write_ct_series,
    write_large_multiframe,
)
from tests.helpers import counts, received_files, stored_files
from tests.protocol import pdus
from tests.protocol.conftest import RunningDimse, start_front
from tests.protocol.scu import associate, dataset_bytes, dataset_offset
from tests.protocol.test_dimse_concurrency import _assert_consistent

CT_EXPLICIT, MR_EXPLICIT, CT_IMPLICIT, LARGE = 1, 3, 5, 7  # presentation context IDs
CONTEXTS = [(CT_EXPLICIT, CTImageStorage, [ExplicitVRLittleEndian]),
            (MR_EXPLICIT, MRImageStorage, [ExplicitVRLittleEndian]),
            (CT_IMPLICIT, CTImageStorage, [ImplicitVRLittleEndian]),
            (LARGE, MULTIFRAME_TRUE_COLOR_SC, [ExplicitVRLittleEndian])]
SUCCESS, OUT_OF_RESOURCES, DATA_SET_MISMATCH, CANNOT_UNDERSTAND = 0x0000, 0xA700, 0xA900, 0xC000
CLEANUP_SECONDS = 5.0


# -- helpers ---------------------------------------------------------------------------------

def incoming(front: RunningDimse) -> Path:
    return front.app.store.locations[0] / INCOMING


def wait_for_incoming(front: RunningDimse, at_least: int, timeout: float = 10.0) -> None:
    """Wait until a data set of ``at_least`` bytes is being received into .incoming."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        folder = incoming(front)
        if folder.is_dir() and any(p.stat().st_size >= at_least for p in folder.iterdir()):
            return
        time.sleep(0.02)
    raise AssertionError(f"no data set of {at_least} bytes arrived in {incoming(front)}")


def assert_nothing_kept(front: RunningDimse) -> None:
    """Nothing indexed, and (within a few seconds) no file at all in the storage location:
    no stored object, no temporary, nothing left in .incoming."""
    deadline = time.monotonic() + CLEANUP_SECONDS
    while stored_files(front.app) != {front.app.store.locations[0]: []}:
        if time.monotonic() > deadline:
            raise AssertionError(f"files left behind: {stored_files(front.app)}")
        time.sleep(0.05)
    assert counts(front.app) == (0, 0, 0, 0)


def assert_still_serving(front: RunningDimse) -> None:
    """A new association from a well-behaved pynetdicom SCU gets its C-ECHO answered."""
    with associate(front.port, front.ae_title, [(Verification, None)], timeout=10) as association:
        assert association.send_c_echo().Status == SUCCESS


def refused(raw: pdus.RawAssociation) -> bool:
    """The listener ended the association: A-ABORT, A-ASSOCIATE-RJ or a closed connection."""
    answer = raw.receive()
    return answer.kind in (0, pdus.A_ABORT, pdus.A_ASSOCIATE_RJ)


def open_raw(front: RunningDimse, timeout: float = 30.0) -> pdus.RawAssociation:
    raw = pdus.RawAssociation(front.port, timeout)
    raw.associate(front.ae_title, "RAWSCU", CONTEXTS)
    return raw


def store_raw(raw: pdus.RawAssociation, context_id: int, sop_class: str, sop_instance: str,
              data: bytes, message_id: int = 1) -> int:
    """Send a C-STORE-RQ and its data set as given; the status of the response."""
    raw.send(pdus.p_data((context_id, pdus.COMMAND | pdus.LAST,
                          pdus.c_store_rq(message_id, sop_class, sop_instance))))
    for start in range(0, max(len(data), 1), 16000):
        last = pdus.LAST if start + 16000 >= len(data) else 0
        raw.send(pdus.p_data((context_id, last, data[start:start + 16000])))
    answer = raw.receive()
    assert answer.kind == pdus.P_DATA_TF, f"no C-STORE response (PDU type {answer.kind})"
    response = answer.command()
    assert response.CommandField == pdus.C_STORE_RSP
    return int(response.Status)


@pytest.fixture
def ct_files(tmp_path: Path) -> list[Path]:
    return write_ct_series(tmp_path / "ct", 2, size=64)


# -- a. malformed PDUs ------------------------------------------------------------------------

BAD_ASSOCIATE_RQ = {
    "garbage-body": pdus.pdu(pdus.A_ASSOCIATE_RQ, bytes(range(7, 247, 3)) * 2),
    "shorter-than-its-fixed-fields": pdus.pdu(pdus.A_ASSOCIATE_RQ, b"\x00\x01\x00\x00SLIDE"),
    "item-longer-than-the-pdu": pdus.pdu(
        pdus.A_ASSOCIATE_RQ, b"\x00\x01\x00\x00" + b"SLIDEPACS".ljust(16) + b"RAWSCU".ljust(16)
        + b"\x00" * 32 + b"\x10\x00\xff\xf0" + pdus.APPLICATION_CONTEXT.encode()),
}


@pytest.mark.parametrize("request_bytes", BAD_ASSOCIATE_RQ.values(), ids=BAD_ASSOCIATE_RQ.keys())
def test_a_malformed_association_request_is_refused_and_the_server_keeps_serving(
        open_dimse: RunningDimse, request_bytes: bytes):
    raw = pdus.RawAssociation(open_dimse.port, timeout=10)
    try:
        raw.send(request_bytes)
        assert refused(raw)
    finally:
        raw.close()
    assert_still_serving(open_dimse)
    assert_nothing_kept(open_dimse)


def test_a_refused_association_request_frees_its_association_slot_at_once(
        open_dimse: RunningDimse):
    raw = pdus.RawAssociation(open_dimse.port, timeout=10)
    try:
        raw.send(BAD_ASSOCIATE_RQ["garbage-body"])
        assert refused(raw)
    finally:
        raw.close()
    deadline = time.monotonic() + 3  # the ACSE timeout is 30 s
    while _acceptors() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _acceptors(), "the aborted association still counts against the maximum"


def _acceptors() -> list[threading.Thread]:
    """Association threads of the in-process listener (each counts against the maximum of
    simultaneous associations)."""
    return [t for t in threading.enumerate() if "AcceptorThread" in t.name and t.is_alive()]


# Sent after a C-STORE-RQ and the first part of its data set, on an established association.
BAD_PDUS = {
    "unknown-pdu-type": pdus.pdu(0x09, b"\x00" * 10),
    "pdv-longer-than-its-pdu": pdus.pdu(pdus.P_DATA_TF, struct.pack(">LBB", 1000, LARGE, 0)
                                        + b"\x00" * 20),
    "pdv-without-control-header": pdus.pdu(pdus.P_DATA_TF, struct.pack(">L", 0)),
    "associate-rq-on-an-established-association": pdus.associate_rq("SLIDEPACS", "RAWSCU",
                                                                     CONTEXTS[:1]),
    "associate-ac-from-the-requestor": pdus.pdu(pdus.A_ASSOCIATE_AC, b"\x00" * 68),
}


def wait_for_received_file(front: RunningDimse, timeout: float = 10.0) -> None:
    """Wait until a data set is being received (its file exists, perhaps still empty: a
    small data set is held in memory until complete)."""
    deadline = time.monotonic() + timeout
    while not (incoming(front).is_dir() and received_files(incoming(front))):
        if time.monotonic() > deadline:
            raise AssertionError(f"no data set is being received in {incoming(front)}")
        time.sleep(0.02)


# a data set held in memory until complete, and one written to disk while it arrives
HALF_RECEIVED = {"held": (3 << 20, 1 << 20), "written": (HELD_BYTES * 6, HELD_BYTES * 5)}
IN_MEMORY = (IN_FLIGHT + 1) * HELD_BYTES  # at most this much received is not on disk yet


@pytest.mark.parametrize("sizes", HALF_RECEIVED.values(), ids=HALF_RECEIVED.keys())
@pytest.mark.parametrize("bad_pdu", BAD_PDUS.values(), ids=BAD_PDUS.keys())
def test_a_malformed_pdu_in_the_middle_of_a_c_store_aborts_it_and_leaves_nothing(
        open_dimse: RunningDimse, tmp_path: Path, bad_pdu: bytes, sizes: tuple[int, int]):
    size, sent = sizes
    path = tmp_path / "large.dcm"
    uid = write_large_multiframe(path, size)
    data = dataset_bytes(path)
    raw = open_raw(open_dimse, timeout=10)
    try:
        raw.send(pdus.p_data((LARGE, pdus.COMMAND | pdus.LAST,
                              pdus.c_store_rq(1, MULTIFRAME_TRUE_COLOR_SC, uid))))
        for start in range(0, sent, 1 << 20):
            raw.send(pdus.p_data((LARGE, 0, data[start:start + (1 << 20)])))
        if sent > HELD_BYTES:
            wait_for_incoming(open_dimse, sent - IN_MEMORY)  # a data set is half received
        else:
            wait_for_received_file(open_dimse)
        raw.send(bad_pdu)
        assert refused(raw)
    finally:
        raw.close()
    assert_nothing_kept(open_dimse)
    assert_still_serving(open_dimse)


def test_a_pdu_announcing_more_than_4_gib_is_refused_at_once(open_dimse: RunningDimse):
    raw = open_raw(open_dimse, timeout=5)
    try:
        raw.send(struct.pack(">BBL", pdus.P_DATA_TF, 0, 0xFFFFFFF0) + b"\x00" * 64)
        assert refused(raw)  # instead of waiting up to the network timeout for 4 GiB
    except TimeoutError:
        pytest.fail("no A-ABORT within 5 s of a P-DATA-TF longer than the maximum PDU")
    finally:
        raw.close()


# -- b. data sets that contradict their request or transfer syntax -----------------------------

def _encoded(ds: pydicom.Dataset, implicit: bool) -> bytes:
    buffer = DicomBytesIO()
    buffer.is_little_endian, buffer.is_implicit_VR = True, implicit
    write_dataset(buffer, ds)
    return buffer.getvalue()


def _implicit(path: Path) -> bytes:
    """The data set of ``path`` encoded Implicit VR Little Endian."""
    return _encoded(pydicom.dcmread(path), implicit=True)


def _relabelled_mr(path: Path) -> bytes:
    """The data set of ``path`` claiming to be an MR image (Explicit VR Little Endian)."""
    ds = pydicom.dcmread(path)
    ds.SOPClassUID = MRImageStorage
    return _encoded(ds, implicit=False)


# name → (context ID, the request's SOP class, its SOP instance or None for the data set's,
#         the data set bytes from the source file, the expected status)
CONTRADICTIONS = {
    "sop-class-differs": (MR_EXPLICIT, MRImageStorage, None, dataset_bytes, DATA_SET_MISMATCH),
    "sop-instance-differs": (CT_EXPLICIT, CTImageStorage, "1.2.3.4.5.6.7.8.9", dataset_bytes,
                             DATA_SET_MISMATCH),
    "implicit-vr-bytes-in-an-explicit-vr-context": (CT_EXPLICIT, CTImageStorage, None, _implicit,
                                                    CANNOT_UNDERSTAND),
    "explicit-vr-bytes-in-an-implicit-vr-context": (CT_IMPLICIT, CTImageStorage, None,
                                                    dataset_bytes, CANNOT_UNDERSTAND),
    "request-and-data-set-of-another-sop-class-than-the-context": (
        CT_EXPLICIT, MRImageStorage, None, _relabelled_mr, DATA_SET_MISMATCH),
    "garbage-bytes": (CT_EXPLICIT, CTImageStorage, None,
                      lambda _: b"this is not a DICOM data set. " * 400, CANNOT_UNDERSTAND),
}


@pytest.mark.filterwarnings("ignore:Expected (ex|im)plicit VR:UserWarning")
@pytest.mark.parametrize("case", CONTRADICTIONS.values(), ids=CONTRADICTIONS.keys())
def test_a_data_set_contradicting_its_request_fails_and_the_association_keeps_working(
        open_dimse: RunningDimse, ct_files: list[Path], case):
    context_id, sop_class, sop_instance, encode, expected = case
    bad, good = ct_files
    raw = open_raw(open_dimse)
    try:
        uid = sop_instance or str(pydicom.dcmread(bad, stop_before_pixels=True).SOPInstanceUID)
        assert store_raw(raw, context_id, sop_class, uid, encode(bad)) == expected
        assert_nothing_kept(open_dimse)
        good_uid = str(pydicom.dcmread(good, stop_before_pixels=True).SOPInstanceUID)
        assert store_raw(raw, CT_EXPLICIT, CTImageStorage, good_uid, dataset_bytes(good),
                         message_id=2) == SUCCESS
        raw.send(pdus.release_rq())
        assert raw.receive().kind == pdus.A_RELEASE_RP
    finally:
        raw.close()
    assert counts(open_dimse.app) == (1, 1, 1, 1)
    with open_dimse.app.unit_of_work.read() as repo:
        assert repo.find_instance(good_uid) is not None
        assert sop_instance is None or repo.find_instance(sop_instance) is None
    assert not received_files(incoming(open_dimse))


# -- c. an association that ends half-way through a large data set ------------------------------

@pytest.fixture(scope="module")
def file_50mb(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    path = tmp_path_factory.mktemp("large") / "50mb.dcm"
    return path, write_large_multiframe(path, 50 << 20)


ENDINGS = ["a-abort", "connection-closed", "a-release-rq"]


@pytest.mark.parametrize("ending", ENDINGS)
def test_an_association_ending_half_way_through_50_mb_leaves_nothing(
        open_dimse: RunningDimse, file_50mb: tuple[Path, str], ending: str):
    path, uid = file_50mb
    half = (path.stat().st_size - dataset_offset(path)) // 2
    raw = open_raw(open_dimse)
    try:
        raw.send(pdus.p_data((LARGE, pdus.COMMAND | pdus.LAST,
                              pdus.c_store_rq(1, MULTIFRAME_TRUE_COLOR_SC, uid))))
        with path.open("rb") as source:
            source.seek(dataset_offset(path))
            sent = 0
            while sent < half:
                chunk = source.read(1 << 20)
                raw.send(pdus.p_data((LARGE, 0, chunk)))
                sent += len(chunk)
        wait_for_incoming(open_dimse, half - IN_MEMORY)
        if ending == "a-abort":
            raw.send(pdus.abort())
        elif ending == "a-release-rq":
            raw.send(pdus.release_rq())
            assert raw.receive().kind in (0, pdus.A_RELEASE_RP, pdus.A_ABORT)
    finally:
        raw.close()
    assert_nothing_kept(open_dimse)
    assert_still_serving(open_dimse)


# -- d. a full disk ------------------------------------------------------------------------------

DISK_SIZE = "20m"


@pytest.fixture
def small_disk(tmp_path: Path, database_url: str) -> Iterator[RunningDimse]:
    """A DICOM front whose data path (and SQLite index) is a 20 MB tmpfs."""
    data = tmp_path / "data"
    data.mkdir()
    try:
        mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={DISK_SIZE}", "tmpfs",
                                  str(data)], capture_output=True, text=True, timeout=30)
    except FileNotFoundError:
        pytest.skip("no mount command: cannot make a small disk for the data path")
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a {DISK_SIZE} tmpfs for the data path (needs root): "
                    f"{mounted.stderr.strip()}")
    try:
        yield from start_front(tmp_path, database_url, accept_unregistered=True)
    finally:
        if subprocess.run(["umount", str(data)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "--lazy", str(data)], check=True)


def test_a_full_disk_fails_the_store_that_does_not_fit_and_keeps_the_stored_ones_intact(
        small_disk: RunningDimse, tmp_path: Path):
    slides = {}
    for number in range(10):  # 30 MB in all, for a 20 MB disk
        path = tmp_path / f"slide{number}.dcm"
        slides[write_large_multiframe(path, 3 << 20)] = path
    small = write_ct_series(tmp_path / "ct", 1, size=64)[0]
    contexts = [(MULTIFRAME_TRUE_COLOR_SC, [ExplicitVRLittleEndian]),
                (CTImageStorage, [ExplicitVRLittleEndian])]
    statuses: dict[str, int] = {}
    with associate(small_disk.port, small_disk.ae_title, contexts, calling="FILLER") as association:
        for uid, path in slides.items():
            statuses[uid] = int(association.send_c_store(path).Status)
            if statuses[uid] != SUCCESS:
                break
        # the failed data set's space is free again: a small object still fits
        assert association.send_c_store(small).Status == SUCCESS
    stored = [uid for uid, status in statuses.items() if status == SUCCESS]
    assert list(statuses.values()) == [SUCCESS] * len(stored) + [OUT_OF_RESOURCES]
    assert 3 <= len(stored) < len(slides)
    indexed = _assert_consistent(small_disk)  # every indexed file verifies, nothing else on disk
    small_uid = str(pydicom.dcmread(small, stop_before_pixels=True).SOPInstanceUID)
    assert indexed == {*stored, small_uid}
    for uid in stored:
        with small_disk.app.unit_of_work.read() as repo:
            held = repo.find_instance(uid)
        assert held is not None
        assert dataset_bytes(small_disk.app.store.path(held.file.relpath)) == dataset_bytes(
            slides[uid])
    assert_still_serving(small_disk)


def test_a_store_whose_index_commit_fails_on_a_full_disk_leaves_no_unindexed_file(
        small_disk: RunningDimse, tmp_path: Path, database_url: str):
    if database_url:
        pytest.skip("only the SQLite index shares the data path's disk")
    data = small_disk.app.store.locations[0]
    files = write_ct_series(tmp_path / "ct", 16, size=128)
    size = files[0].stat().st_size
    failed = 0
    with associate(small_disk.port, small_disk.ae_title, [(CTImageStorage, None)],
                   calling="FILLER") as association:
        assert association.send_c_store(files[0]).Status == SUCCESS
        for extra_pages, path in enumerate(files[1:]):
            # room for the received file and a few pages: the index grows past the rest
            disk = os.statvfs(data)
            free = disk.f_bavail * disk.f_frsize
            filler_size = free - ((size + 4095) // 4096 + extra_pages) * 4096
            filler = data / "filler.bin"
            filler.write_bytes(b"\0" * max(0, filler_size))
            status = int(association.send_c_store(path).Status)
            filler.unlink()
            failed += status != SUCCESS
            assert status in (SUCCESS, OUT_OF_RESOURCES, OUT_OF_RESOURCES + 1)
            with small_disk.app.unit_of_work.read() as repo:
                indexed = sorted(f.relpath for f in repo.iter_files())
            [stored] = stored_files(small_disk.app).values()
            assert stored == indexed, f"after status {status:#06x}: unindexed files are left"
    assert failed, "no store failed: the disk never filled up"
