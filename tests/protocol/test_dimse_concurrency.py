"""Many associations at once, peers that stall or send garbage, and shutdown in flight."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pydicom
import pytest
from pydicom.uid import ExplicitVRLittleEndian, generate_uid
from pynetdicom import AE
from pynetdicom.sop_class import CTImageStorage, Verification

from slidepacs.bootstrap import build_context, build_dimse_server, ensure_lab_pki
from slidepacs.config import settings_for
from slidepacs.dimse.tls import client_context
from slidepacs.services.certificates import TlsFiles
from slidepacs.storage.filesystem import INCOMING
from slidepacs.testing.generators import (
    MULTIFRAME_TRUE_COLOR_SC,
    PatientSpec,
    write_ct_series,
    write_large_multiframe,
)
from tests.cli import run_slidepacs
from tests.helpers import counts, received_files, stored_files, temporaries
from tests.protocol.conftest import RunningDimse, free_port
from tests.protocol.scu import associate
from tests.serve_process import ServeProcess, storescu

CLIENTS = 16
STORE_CONTEXT = [(CTImageStorage, [ExplicitVRLittleEndian])]


def _client_series(folder: Path, clients: int, files_each: int, size: int) -> list[list[Path]]:
    """One series per client, all of the same patient and study (so the clients race to
    create the same patient and study rows)."""
    patient = PatientSpec("PAT-PARALLEL", "PARALLEL^PAT")
    study = generate_uid()
    return [write_ct_series(folder / f"client{n:02d}", files_each, patient, size=size,
                            study_uid=study) for n in range(clients)]


def _store(port: int, called: str, calling: str, files: list[Path],
           together: threading.Barrier | None = None) -> list[int]:
    """Store ``files`` on one association; the statuses, in order."""
    with associate(port, called, STORE_CONTEXT, calling=calling) as association:
        if together is not None:
            together.wait(timeout=60)  # every association is open before anyone stores
        return [int(association.send_c_store(path).Status) for path in files]


def _store_in_parallel(front: RunningDimse, series: list[list[Path]],
                       timeout: float = 120) -> list[list[int]]:
    together = threading.Barrier(len(series))
    with ThreadPoolExecutor(len(series)) as pool:
        futures = [pool.submit(_store, front.port, front.ae_title, f"SCU{n:02d}", files, together)
                   for n, files in enumerate(series)]
        return [future.result(timeout=timeout) for future in futures]


def _sop_uid(path: Path) -> str:
    return str(pydicom.dcmread(path, stop_before_pixels=True).SOPInstanceUID)


def _assert_consistent(front: RunningDimse) -> set[str]:
    """Index and storage agree: every indexed file verifies, every stored file is indexed
    once, and nothing temporary or partly received is left. Returns the indexed UIDs."""
    app = front.app
    report = app.storage_check.verify()
    assert report.clean, report.problems
    with app.unit_of_work.read() as repo:
        indexed = {f.relpath: f.sop_instance_uid for f in repo.iter_files()}
    [(location, files)] = stored_files(app).items()
    assert sorted(files) == sorted(indexed), "stored files and index differ"
    assert not temporaries(location)
    assert len(set(indexed.values())) == len(indexed) == report.files
    return set(indexed.values())


def test_16_simultaneous_associations_store_everything_exactly_once(
        open_dimse: RunningDimse, tmp_path: Path):
    series = _client_series(tmp_path, CLIENTS, 5, size=64)
    statuses = _store_in_parallel(open_dimse, series)
    assert statuses == [[0x0000] * 5] * CLIENTS
    assert counts(open_dimse.app) == (1, 1, CLIENTS, CLIENTS * 5)
    sent = {_sop_uid(path) for files in series for path in files}
    assert _assert_consistent(open_dimse) == sent
    registered = {ae.ae_title for ae in open_dimse.app.registry.list()}
    assert {f"SCU{n:02d}" for n in range(CLIENTS)} <= registered  # each auto-registered once


# -- peers that misbehave ------------------------------------------------------------------

def _silent(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port))


def _half_a_request(port: int) -> socket.socket:
    """An A-ASSOCIATE-RQ header announcing 200 bytes, then 10 of them."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(b"\x01\x00" + (200).to_bytes(4, "big") + b"\x00\x01" + b"\x00" * 8)
    return sock


def _garbage(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(b"GET / HTTP/1.1\r\nHost: archive\r\n\r\n" + os.urandom(2048))
    return sock


class StalledStore:
    """A pynetdicom SCU whose connection stops dead part-way through a large C-STORE."""

    def __init__(self, front: RunningDimse, path: Path, after_bytes: int) -> None:
        self._release = threading.Event()
        self._sent = 0
        self.stalled = threading.Event()
        contexts = [(MULTIFRAME_TRUE_COLOR_SC, [ExplicitVRLittleEndian])]
        self._context = associate(front.port, front.ae_title, contexts, calling="STALLER")
        self.association = self._context.__enter__()
        sock = self.association.dul.socket
        original = sock.send

        def send(data: bytes) -> None:
            if self._sent + len(data) > after_bytes and not self._release.is_set():
                cut = max(0, after_bytes - self._sent)
                original(data[:cut])
                self.stalled.set()
                self._release.wait()
                data = data[cut:]  # fails: the connection is closed by now
            self._sent += len(data)
            original(data)

        sock.send = send  # type: ignore[method-assign]
        self._thread = threading.Thread(target=self._store, args=(path,), daemon=True)
        self._thread.start()

    def _store(self, path: Path) -> None:
        self.association.send_c_store(path)  # returns an empty status once cut off

    def close(self) -> None:
        """End the stall by closing the connection: the server sees half a data set."""
        raw = self.association.dul.socket.socket
        raw.shutdown(socket.SHUT_RDWR)
        raw.close()
        self._release.set()
        self._thread.join(30)


@pytest.fixture
def large_file(tmp_path: Path) -> Path:
    path = tmp_path / "large.dcm"
    write_large_multiframe(path, 64 << 20)
    return path


def test_stalled_and_garbage_peers_never_block_16_other_associations(
        open_dimse: RunningDimse, tmp_path: Path, large_file: Path):
    incoming = open_dimse.app.store.locations[0] / INCOMING
    stalled = StalledStore(open_dimse, large_file, after_bytes=20 << 20)
    rude = [_silent(open_dimse.port), _half_a_request(open_dimse.port), _garbage(open_dimse.port)]
    try:
        assert stalled.stalled.wait(30)
        time.sleep(0.5)
        assert len(received_files(incoming)) == 1  # the stalled C-STORE, half received
        series = _client_series(tmp_path / "others", CLIENTS, 3, size=64)
        started = time.monotonic()
        statuses = _store_in_parallel(open_dimse, series, timeout=60)
        assert time.monotonic() - started < 60
        assert statuses == [[0x0000] * 3] * CLIENTS
    finally:
        stalled.close()
        for sock in rude:
            sock.close()
    deadline = time.monotonic() + 10
    while received_files(incoming) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not received_files(incoming), "the half-received data set was left behind"
    assert counts(open_dimse.app)[3] == CLIENTS * 3  # nothing of the stalled store
    _assert_consistent(open_dimse)
    with associate(open_dimse.port, open_dimse.ae_title, [(Verification, None)]) as association:
        assert association.send_c_echo().Status == 0x0000


def _tls_echo(port: int, called: str, ca: Path) -> int:
    ae = AE("PYSCU")
    ae.add_requested_context(Verification)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 10
    association = ae.associate("127.0.0.1", port, ae_title=called,
                               tls_args=(client_context(ca), "localhost"))
    if not association.is_established:
        return -1
    try:
        return int(association.send_c_echo().Status)
    finally:
        association.release()


def test_a_silent_client_does_not_hold_up_the_tls_listener(tmp_path: Path, database_url: str):
    settings = settings_for(tmp_path / "data", dicom={"port": free_port()},
                            slide_receiver={"port": free_port()}, database={"url": database_url})
    ensure_lab_pki(settings)
    app = build_context(settings)
    app.registry.add("pynetdicom", "PYSCU", "127.0.0.1", 104)
    server = build_dimse_server(app)
    server.start()
    receiver = settings.slide_receiver
    silent = socket.create_connection(("127.0.0.1", receiver.port))  # no TLS handshake
    pool = ThreadPoolExecutor(1)  # the client's TLS handshake has no timeout of its own
    try:
        echo = pool.submit(_tls_echo, receiver.port, receiver.ae_title,
                           TlsFiles(settings.tls_folder).ca)
        assert echo.result(timeout=20) == 0x0000
    finally:
        silent.close()
        pool.shutdown()
        server.stop()
        app.close()


# -- shutdown with associations in flight -----------------------------------------------

@pytest.fixture
def stoppable(tmp_path: Path, database_url: str) -> Iterator[tuple[RunningDimse, object]]:
    settings = settings_for(tmp_path / "data", dicom={"port": free_port(),
                            "accept_unregistered": True}, database={"url": database_url})
    app = build_context(settings)
    server = build_dimse_server(app, slide_receiver=False)
    server.start()
    try:
        yield RunningDimse(app, settings.dicom.port, settings.dicom.ae_title), server
    finally:
        server.stop(grace=0)
        app.close()


def _store_until_stopped(port: int, called: str, calling: str, files: list[Path]) -> dict[str, int]:
    """Store what can be stored; {SOP Instance UID: status} of the answered C-STOREs."""
    answered: dict[str, int] = {}
    try:
        # pynetdicom's SCU waits for a response until its DIMSE timeout when the connection
        # drops while it sends, hence a short one
        with associate(port, called, STORE_CONTEXT, calling=calling, timeout=5) as association:
            for path in files:
                if not association.is_established:
                    break
                status = association.send_c_store(path)
                if "Status" in status:
                    answered[_sop_uid(path)] = int(status.Status)
    except Exception:
        pass  # aborted by the server: expected
    return answered


def test_stop_with_16_associations_in_flight_leaves_nothing_half_stored(stoppable, tmp_path):
    front, server = stoppable
    series = _client_series(tmp_path, CLIENTS, 30, size=256)
    with ThreadPoolExecutor(CLIENTS) as pool:
        futures = [pool.submit(_store_until_stopped, front.port, front.ae_title, f"SCU{n:02d}",
                               files) for n, files in enumerate(series)]
        deadline = time.monotonic() + 60
        while counts(front.app)[3] < 40 and time.monotonic() < deadline:
            time.sleep(0.05)
        started = time.monotonic()
        server.stop(grace=0.5)
        stop_seconds = time.monotonic() - started
        answered = {uid: status for f in futures for uid, status in f.result(60).items()}
    assert stop_seconds < 30
    alive = [t for t in threading.enumerate() if "AcceptorThread" in t.name]
    assert not alive, "associations still running after stop()"
    indexed = _assert_consistent(front)
    acknowledged = {uid for uid, status in answered.items() if status == 0x0000}
    assert acknowledged <= indexed  # every success the peers saw is stored
    assert len(indexed) < CLIENTS * 30  # the stop did cut the transfers short
    assert not received_files(front.app.store.locations[0] / INCOMING)


@pytest.mark.slow
def test_sigterm_to_serve_during_transfers_finishes_or_aborts_them_cleanly(tmp_path: Path):
    data = tmp_path / "data"
    series = _client_series(tmp_path / "files", 4, 80, size=256)
    total = sum(len(files) for files in series)
    with ServeProcess(tmp_path / "cwd", data) as serve:
        idle = associate(serve.port, serve.ae_title, STORE_CONTEXT, calling="IDLE")
        idle_association = idle.__enter__()  # open and silent: the grace period ends it
        senders = [storescu(serve.port, serve.ae_title, *files, calling=f"STORESCU{n}")
                   for n, files in enumerate(series)]
        deadline = time.monotonic() + 60
        while len(list(data.rglob("*.dcm"))) < 20 and time.monotonic() < deadline:
            time.sleep(0.05)
        stored_at_sigterm = len(list(data.rglob("*.dcm")))
        started = time.monotonic()
        code = serve.stop(signal.SIGTERM, timeout=60)
        stop_seconds = time.monotonic() - started
        outcomes = [sender.wait(60) for sender in senders]
        assert idle_association.is_aborted
        idle.__exit__(None, None, None)
    assert code == 0, serve.output
    assert "slidepacs stopped." in serve.output
    assert stop_seconds < 30
    assert stored_at_sigterm < total  # the signal came while the transfers ran
    verify = run_slidepacs("storage", "verify", cwd=tmp_path / "cwd")
    assert verify.returncode == 0, verify.stdout + verify.stderr
    with sqlite3.connect(data / "index.sqlite") as index:
        indexed = {row[0] for row in index.execute("SELECT relpath FROM instances")}
    stored = {str(p.relative_to(data)) for p in data.rglob("*.dcm")}
    assert stored == indexed
    assert not temporaries(data)
    finished = [n for n, code in enumerate(outcomes) if code == 0]
    assert len(indexed) >= sum(len(series[n]) for n in finished)
