"""Forwarding to real peers: a second slidepacs and Orthanc hold what the archive forwards, and
a queued forward survives a crash and restart of ``slidepacs serve`` while its peer is down.

(test_forwarding.py covers delivery to dcmtk's storescp, rules, backoff and an in-process
restart with the peer back up before the archive.)
"""

from __future__ import annotations

import io
import json
import signal
import sqlite3
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pydicom
import pytest

from slidepacs.bootstrap import build_context, build_dimse_server
from slidepacs.config import settings_for
from slidepacs.domain.forwarding import RuleSpec
from slidepacs.testing.generators import write_ct_series, write_large_multiframe
from slidepacs.testing.orthanc import OrthancServer
from tests.cli import run_slidepacs
from tests.helpers import counts
from tests.protocol.conftest import RunningDimse, free_port
from tests.protocol.scu import associate, dataset_bytes, pydicom_file
from tests.protocol.test_forwarding import QUEUE, Archive, start_archive, wait_for
from tests.serve_process import ServeProcess, storescu

# Other transfer syntaxes than the generated objects' Explicit VR Little Endian.
SAMPLES = ["MR_small_implicit.dcm", "SC_rgb_jpeg_dcmtk.dcm", "US1_J2KR.dcm"]


@pytest.fixture
def archive(tmp_path: Path, database_url: str) -> Iterator[Archive]:
    """The archive under test (on SQLite and PostgreSQL), with its forwarding worker."""
    settings = settings_for(tmp_path / "data", database={"url": database_url},
                            dicom={"port": free_port(), "accept_unregistered": True},
                            forwarding=QUEUE)
    running = start_archive(settings)
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def peer(tmp_path: Path) -> Iterator[RunningDimse]:
    """A second slidepacs (DICOM front only, its own SQLite index) as the destination."""
    settings = settings_for(tmp_path / "peer", dicom={"port": free_port(), "ae_title": "PEERPACS",
                                                      "accept_unregistered": True})
    app = build_context(settings)
    server = build_dimse_server(app, slide_receiver=False)
    server.start()
    try:
        yield RunningDimse(app, settings.dicom.port, settings.dicom.ae_title)
    finally:
        server.stop()
        app.close()


@pytest.fixture
def sent(tmp_path: Path) -> dict[str, Path]:
    """Objects to forward by SOP Instance UID: a CT series, a 20 MB multi-frame slide-like
    object and samples in implicit VR, JPEG baseline and JPEG 2000."""
    files = write_ct_series(tmp_path / "ct", 3, size=128)
    large = tmp_path / "large.dcm"
    write_large_multiframe(large, 20 << 20)
    files += [large] + [pydicom_file(name) for name in SAMPLES]
    return {str(pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID): p for p in files}


def store(archive: Archive, files: list[Path]) -> None:
    """C-STORE ``files`` to the archive in their own transfer syntaxes."""
    headers = [pydicom.dcmread(p, stop_before_pixels=True) for p in files]
    contexts = sorted({(h.SOPClassUID, h.file_meta.TransferSyntaxUID) for h in headers})
    with associate(archive.port, archive.app.settings.dicom.ae_title,
                   [(sop_class, [syntax]) for sop_class, syntax in contexts],
                   calling="MODALITY") as association:
        assert [association.send_c_store(p).Status for p in files] == [0x0000] * len(files)


def test_forwarded_instances_are_indexed_by_a_second_slidepacs_byte_for_byte(
        archive: Archive, peer: RunningDimse, sent: dict[str, Path]):
    archive.app.registry.add("peer", peer.ae_title, "127.0.0.1", peer.port)
    archive.app.forwarding.rules.add(RuleSpec("everything", "peer"))
    store(archive, list(sent.values()))
    wait_for(lambda: archive.counts(peer.ae_title) == (0, 0, len(sent), 0), timeout=60,
             what="every job done")
    assert counts(peer.app)[3] == len(sent)
    for uid, source in sent.items():
        with peer.app.unit_of_work.read() as repo:
            held = repo.find_instance(uid)
        assert held is not None, uid
        path = peer.app.store.path(held.file.relpath)
        assert dataset_bytes(path) == dataset_bytes(source), source.name
        assert held.file.size == path.stat().st_size
        syntaxes = [pydicom.dcmread(p, stop_before_pixels=True).file_meta.TransferSyntaxUID
                    for p in (path, source)]
        assert syntaxes[0] == syntaxes[1], source.name
    report = peer.app.storage_check.verify()  # the peer's index matches its files
    assert report.clean and report.files == len(sent), report.problems


def test_forwarded_instances_are_held_by_orthanc(
        archive: Archive, sent: dict[str, Path], tmp_path: Path):
    with OrthancServer(root=tmp_path, dicom=True) as orthanc:
        archive.app.registry.add("orthanc", orthanc.ae_title, "127.0.0.1", orthanc.dicom_port)
        archive.app.forwarding.rules.add(RuleSpec("everything", "orthanc"))
        store(archive, list(sent.values()))
        wait_for(lambda: archive.counts(orthanc.ae_title) == (0, 0, len(sent), 0), timeout=60,
                 what="every job done")
        assert orthanc.get_json("/statistics")["CountInstances"] == len(sent)
        held = {item["MainDicomTags"]["SOPInstanceUID"]: item["ID"]
                for item in orthanc.get_json("/instances?expand")}
        assert held.keys() == sent.keys()
        for uid, source in sent.items():
            copy = pydicom.dcmread(io.BytesIO(orthanc.get_bytes(f"/instances/{held[uid]}/file")))
            original = pydicom.dcmread(source)
            assert copy.SOPInstanceUID == uid
            assert copy.file_meta.TransferSyntaxUID == original.file_meta.TransferSyntaxUID
            assert copy.PixelData == original.PixelData, source.name


# -- a queued forward across a crash of `slidepacs serve` while the peer is down -----------------

def forward_status(cwd: Path) -> dict[str, object]:
    """The one destination's entry of ``slidepacs forward status --json``."""
    shown = run_slidepacs("forward", "status", "--json", cwd=cwd)
    assert shown.returncode == 0, shown.stdout + shown.stderr
    [entry] = json.loads(shown.stdout)
    return dict(entry)


def failed_since(cwd: Path, moment: datetime) -> dict[str, object] | None:
    """The destination's status if an attempt failed after ``moment`` (UTC), else None."""
    entry = forward_status(cwd)
    if not entry["last_error_at"]:
        return None
    at = datetime.fromisoformat(str(entry["last_error_at"]))
    return entry if at.replace(tzinfo=at.tzinfo or timezone.utc) > moment else None


def test_a_queued_forward_survives_a_crash_and_restart_of_serve_while_the_peer_is_down(
        tmp_path: Path, database_url: str):
    files = {str(pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID): p
             for p in write_ct_series(tmp_path / "ct", 3, size=64)}
    queue = "\n".join(f"{key} = {json.dumps(value)}" for key, value in QUEUE.items())
    cwd = tmp_path / "archive"
    peer = ServeProcess(tmp_path / "peer", tmp_path / "peer" / "data", ae_title="PEERPACS")
    archive = ServeProcess(cwd, tmp_path / "data", extra_toml=(
        f'[database]\nurl = "{database_url}"\n[forwarding]\n{queue}\n'))
    try:
        for command in (("ae", "add", "peer", "PEERPACS", "127.0.0.1", str(peer.port)),
                        ("forward", "add", "everything", "peer")):
            done = run_slidepacs(*command, cwd=cwd)
            assert done.returncode == 0, done.stdout + done.stderr
        archive.start()
        sender = storescu(archive.port, archive.ae_title, *files.values())
        assert sender.wait(60) == 0, sender.communicate()[0]
        wait_for(lambda: failed_since(cwd, datetime.min.replace(tzinfo=timezone.utc)),
                 what="a failed attempt to reach the peer")

        archive.stop(signal.SIGKILL)  # a crash, not a graceful stop
        crashed = forward_status(cwd)
        assert (crashed["pending"] + crashed["sending"], crashed["done"], crashed["failed"]) == (
            3, 0, 0)
        restarted_at = datetime.now(timezone.utc)
        archive.start()
        after = wait_for(lambda: failed_since(cwd, restarted_at), timeout=30,
                         what="a failed attempt after the restart")
        assert str(after["last_error"]).startswith("cannot connect to PEERPACS")
        assert (after["pending"] + after["sending"], after["done"], after["failed"]) == (3, 0, 0)

        peer.start()
        wait_for(lambda: forward_status(cwd)["done"] == 3, timeout=30, what="delivery")
        assert forward_status(cwd)["failed"] == 0
        assert archive.stop() == 0 and peer.stop() == 0
    finally:
        for server in (archive, peer):
            server.__exit__(None, None, None)  # kills a server still running
    with sqlite3.connect(peer.data_path / "index.sqlite") as index:
        held = dict(index.execute("SELECT sop_instance_uid, relpath FROM instances"))
    assert held.keys() == files.keys()
    for uid, source in files.items():
        assert dataset_bytes(peer.data_path / held[uid]) == dataset_bytes(source)
