"""Forwarding end to end: dcmtk's storescu sends to a running DICOM front, the forwarding
worker C-STOREs to a real dcmtk storescp registered as an AE; on SQLite and PostgreSQL.

Covered: delivery with the data set byte for byte, a rule that does not match, a destination
that is down (backoff, ``forward status``, delivery once it is up, in one association), a
restart with queued and interrupted jobs, and a dead peer that must not delay a healthy one.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pydicom
import pydicom.errors
import pytest

from slidepacs.bootstrap import AppContext, build_context, build_dimse_server, build_forward_worker
from slidepacs.config import Settings, settings_for
from slidepacs.dimse.server import DimseServer
from slidepacs.domain.forwarding import RuleSpec
from slidepacs.services.forward_worker import ForwardWorker
from slidepacs.testing.generators import write_ct_series
from tests.cli import run_slidepacs, toml_config
from tests.protocol.conftest import free_port
from tests.protocol.test_dimse_dcmtk import dcmtk

QUEUE = {"retry_base_seconds": 1.0, "retry_max_seconds": 2.0, "max_attempts": 50,
         "timeout_seconds": 30}


def wait_for(condition: Callable[[], Any], timeout: float = 20.0, what: str = "") -> Any:
    """Poll until ``condition()`` is truthy; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what or condition}")


@dataclass
class StoreScp:
    """dcmtk's storescp as a forwarding destination, writing what it receives to a folder."""

    folder: Path
    ae_title: str
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[str] | None = None

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        log = (self.folder.parent / f"{self.ae_title}.log").open("a")
        self.process = subprocess.Popen(
            ["storescp", "-v", "+B", "-aet", self.ae_title, "-od", str(self.folder),
             str(self.port)], stdout=log, stderr=subprocess.STDOUT, text=True)
        wait_for(self._listening, 10, f"storescp on port {self.port}")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None

    def received(self) -> dict[str, Path]:
        """Completely received files by SOP Instance UID (storescp writes them in place)."""
        files = {}
        for path in self.folder.iterdir():
            try:
                files[pydicom.dcmread(path).SOPInstanceUID] = path
            except (pydicom.errors.InvalidDicomError, EOFError, OSError, ValueError):
                continue  # still being written
        return files

    def associations(self) -> int:
        log = self.folder.parent / f"{self.ae_title}.log"
        return log.read_text().count("Association Acknowledged") if log.exists() else 0

    def _listening(self) -> bool:
        with socket.socket() as probe:
            return probe.connect_ex(("127.0.0.1", self.port)) == 0


@dataclass
class Archive:
    """A running DICOM front with its forwarding worker."""

    app: AppContext
    port: int
    server: DimseServer
    worker: ForwardWorker

    def stop(self) -> None:
        self.worker.stop(grace_seconds=2)
        self.server.stop()
        self.app.close()

    def store(self, files: list[Path], calling: str = "MODALITY") -> None:
        result = dcmtk("storescu", "-aet", calling, "-aec", self.app.settings.dicom.ae_title,
                       "127.0.0.1", str(self.port), *map(str, files))
        assert result.returncode == 0, result.stdout + result.stderr

    def counts(self, destination: str) -> tuple[int, int, int, int]:
        for s in self.app.forwarding.status():
            if s.destination == destination:
                return s.pending, s.sending, s.done, s.failed
        return 0, 0, 0, 0


def _settings(tmp_path: Path, database_url: str, **queue: Any) -> Settings:
    return settings_for(tmp_path / "data", dicom={"port": free_port(), "accept_unregistered": True},
                        database={"url": database_url}, forwarding={**QUEUE, **queue})


def start_archive(settings: Settings) -> Archive:
    app = build_context(settings)
    server = build_dimse_server(app, slide_receiver=False)
    server.start()
    worker = build_forward_worker(app)
    worker.start()
    return Archive(app, settings.dicom.port, server, worker)


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return _settings(tmp_path, database_url)


@pytest.fixture
def archive(settings: Settings) -> Iterator[Archive]:
    running = start_archive(settings)
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def receivers(tmp_path: Path) -> Iterator[Callable[[str], StoreScp]]:
    """Makes storescp destinations (not started); stops them all at the end."""
    made: list[StoreScp] = []

    def make(ae_title: str) -> StoreScp:
        made.append(StoreScp(tmp_path / "received" / ae_title, ae_title))
        return made[-1]

    try:
        yield make
    finally:
        for receiver in made:
            receiver.stop()


def _data_set(path: Path) -> bytes:
    """The bytes after the File Meta Information (which each receiver writes itself)."""
    raw = path.read_bytes()
    group_length = int.from_bytes(raw[140:144], "little")  # (0002,0000) UL after preamble+tag
    return raw[144 + group_length:]


def _uids(files: list[Path]) -> dict[str, Path]:
    return {pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID: p for p in files}


def test_received_instances_reach_the_destination_byte_for_byte(
    archive: Archive, receivers: Callable[[str], StoreScp], tmp_path: Path
) -> None:
    destination = receivers("AI_NODE")
    destination.start()
    archive.app.registry.add("ai", "AI_NODE", "127.0.0.1", destination.port)
    archive.app.forwarding.rules.add(RuleSpec("ct-from-modality", "ai", modality=("CT",),
                                              calling_ae_title=("MOD*",)))
    sent = _uids(write_ct_series(tmp_path / "ct", 5, size=64))
    archive.store(list(sent.values()))
    wait_for(lambda: len(destination.received()) == 5, what="5 forwarded instances")
    received = destination.received()
    assert received.keys() == sent.keys()
    for uid, source in sent.items():
        assert _data_set(received[uid]) == _data_set(source)
        meta = pydicom.dcmread(received[uid], stop_before_pixels=True).file_meta
        assert meta.TransferSyntaxUID == pydicom.dcmread(source).file_meta.TransferSyntaxUID
    wait_for(lambda: archive.counts("AI_NODE") == (0, 0, 5, 0), what="5 jobs done")


def test_a_rule_that_does_not_match_forwards_nothing(
    archive: Archive, receivers: Callable[[str], StoreScp], tmp_path: Path
) -> None:
    destination = receivers("AI_NODE")
    destination.start()
    archive.app.registry.add("ai", "AI_NODE", "127.0.0.1", destination.port)
    archive.app.forwarding.rules.add(RuleSpec("mr-only", "ai", modality=("MR",)))
    archive.app.forwarding.rules.add(RuleSpec("other-sender", "ai", calling_ae_title=("CT*",)))
    archive.store(write_ct_series(tmp_path / "ct", 5, size=32))
    time.sleep(3)  # longer than the worker's gather and poll intervals
    assert archive.app.forwarding.status() == []
    assert destination.received() == {} and destination.associations() == 0


def test_a_destination_that_is_down_gets_everything_once_it_is_up(
    archive: Archive, receivers: Callable[[str], StoreScp], tmp_path: Path, settings: Settings
) -> None:
    destination = receivers("AI_NODE")
    archive.app.registry.add("ai", "AI_NODE", "127.0.0.1", destination.port)
    archive.app.forwarding.rules.add(RuleSpec("all", "ai"))
    sent = _uids(write_ct_series(tmp_path / "ct", 5, size=32))
    archive.store(list(sent.values()))
    wait_for(lambda: any(s.last_error for s in archive.app.forwarding.status()),
             what="a failed attempt")
    pending, sending, done, failed = archive.counts("AI_NODE")  # one snapshot
    assert (pending + sending, done, failed) == (5, 0, 0)

    cwd = tmp_path / "cwd"
    toml_config(cwd, settings.storage.data_path, database_url=settings.database.url)
    shown = run_slidepacs("forward", "status", cwd=cwd)
    assert shown.returncode == 0, shown.stderr
    assert re.search(r"AI_NODE\s+│\s+[0-5]\s+│\s+[0-5]\s+│\s+0\s+│\s+0\s+│", shown.stdout)
    assert ("AI_NODE: last error at " in shown.stdout
            and f"cannot connect to AI_NODE at 127.0.0.1:{destination.port}" in shown.stdout)
    as_json = json.loads(run_slidepacs("forward", "status", "--json", cwd=cwd).stdout)
    [entry] = as_json
    assert (entry["pending"] + entry["sending"], entry["done"], entry["failed"]) == (5, 0, 0)
    assert entry["next_attempt_at"] or entry["sending"]  # none while a retry is in flight
    assert entry["last_error"].startswith("cannot connect to AI_NODE")

    destination.start()
    wait_for(lambda: len(destination.received()) == 5, what="delivery after the next attempt")
    assert destination.received().keys() == sent.keys()
    assert destination.associations() == 1  # the queued jobs went as one batch
    wait_for(lambda: archive.counts("AI_NODE") == (0, 0, 5, 0), what="5 jobs done")
    assert json.loads(run_slidepacs("forward", "status", "--json", cwd=cwd).stdout)[0][
        "last_error"] == ""


def test_queued_and_interrupted_jobs_are_delivered_after_a_restart(
    receivers: Callable[[str], StoreScp], tmp_path: Path, settings: Settings
) -> None:
    destination = receivers("AI_NODE")
    first = start_archive(settings)
    try:
        first.app.registry.add("ai", "AI_NODE", "127.0.0.1", destination.port)
        first.app.forwarding.rules.add(RuleSpec("all", "ai"))
        sent = _uids(write_ct_series(tmp_path / "ct", 5, size=32))
        first.store(list(sent.values()))
        wait_for(lambda: first.counts("AI_NODE")[0] == 5, what="5 pending jobs")
    finally:
        first.stop()
    # As if a worker had died while sending one of them:
    interrupted = build_context(settings)
    try:
        interrupted.forwarding.retry()
        assert len(interrupted.forwarding.claim("AI_NODE", 1)) == 1
    finally:
        interrupted.close()

    destination.start()
    second = start_archive(settings)
    try:
        wait_for(lambda: len(destination.received()) == 5, what="delivery after the restart")
        assert destination.received().keys() == sent.keys()
        wait_for(lambda: second.counts("AI_NODE") == (0, 0, 5, 0), what="5 jobs done")
    finally:
        second.stop()


def test_a_dead_destination_does_not_delay_a_healthy_one(
    archive: Archive, receivers: Callable[[str], StoreScp], tmp_path: Path
) -> None:
    healthy = receivers("HEALTHY")
    healthy.start()
    with socket.socket() as dead:  # accepts TCP connections, never answers
        dead.bind(("127.0.0.1", 0))
        dead.listen(16)
        archive.app.registry.add("dead", "DEAD", "127.0.0.1", dead.getsockname()[1])
        archive.app.registry.add("healthy", "HEALTHY", "127.0.0.1", healthy.port)
        archive.app.forwarding.rules.add(RuleSpec("to-dead", "dead"))
        archive.app.forwarding.rules.add(RuleSpec("to-healthy", "healthy"))
        archive.store(write_ct_series(tmp_path / "ct", 5, size=32))
        started = time.monotonic()
        wait_for(lambda: len(healthy.received()) == 5, timeout=10, what="the healthy destination")
        assert time.monotonic() - started < 10
        pending, sending, done, _ = archive.counts("DEAD")
        assert done == 0 and sending > 0  # still waiting for the dead peer's answer
        stop_started = time.monotonic()
        archive.worker.stop(grace_seconds=1)  # aborts the hanging association
        assert time.monotonic() - stop_started < 5
        assert archive.counts("DEAD") == (5, 0, 0, 0)  # released, not counted as attempts
