"""Scanner events as NDJSON lines: what the virtual scanner reports per slide, and that a
down event receiver never holds scanning up (bounded queue, oldest dropped and counted)."""

from __future__ import annotations

import json
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from slidepacs.services.certificates import TlsFiles, create_lab_pki, default_hosts
from slidepacs.simulator.client import ScannerConfig
from slidepacs.simulator.event_sender import EventSender, event_line
from slidepacs.simulator.scanner import SimulatorOptions, VirtualScanner
from slidepacs.simulator.sender import TlsClient
from tests.cli import closed_port
from tests.simulator.stand_ins import LineListener


@pytest.fixture
def listener() -> Iterator[LineListener]:
    running = LineListener()
    yield running
    running.server.close()


def test_queued_events_arrive_in_order_as_json_lines(listener: LineListener) -> None:
    sender = EventSender("127.0.0.1", listener.port)
    sender.start()
    for number in range(5):
        sender.send(event_line("Lab 1", "info", "TEST", f"event {number}", n=number))
    sender.stop()
    lines = listener.wait_for(5)
    assert [line["n"] for line in lines] == [0, 1, 2, 3, 4]
    assert lines[0]["scanner"] == "Lab 1" and lines[0]["time"].endswith("Z")
    assert sender.sent == 5


def test_with_the_receiver_down_sending_never_blocks_and_drops_the_oldest() -> None:
    sender = EventSender("127.0.0.1", closed_port(), limit=10)
    sender.start()
    started = time.monotonic()
    for number in range(100):
        sender.send(event_line("Lab 1", "info", "TEST", f"event {number}"))
    assert time.monotonic() - started < 0.5
    assert (sender.pending, sender.dropped) == (10, 90)
    sender.stop(flush_seconds=0.2)


def test_events_queued_while_the_receiver_is_down_arrive_once_it_is_up() -> None:
    port = closed_port()
    sender = EventSender("127.0.0.1", port)
    sender.start()
    sender.send(event_line("Lab 1", "warning", "EARLY", "sent before the receiver started"))
    time.sleep(0.5)
    late = socket.create_server(("127.0.0.1", port))
    with late:
        late.settimeout(15)
        connection, _ = late.accept()
        with connection, connection.makefile("rb") as stream:
            assert json.loads(stream.readline())["code"] == "EARLY"
    sender.stop(flush_seconds=0.1)


def test_a_scanner_reports_start_qc_failures_and_completion_of_each_slide(
    listener: LineListener, tmp_path: Path
) -> None:
    config = ScannerConfig("Lab 1", 1, "127.0.0.1", closed_port(), "SVS_STORE_SCP", "VSCAN1",
                           False, "DICOM", "127.0.0.1", listener.port, 0, 15.0)
    options = SimulatorOptions(racks=1, slides_per_rack=4, speed=100_000, qc_failure_rate=1.0,
                               incident_rate=0.0, seed=3, slide_size=(512, 512))
    summary = VirtualScanner(options, config=config).run(threading.Event())
    assert (summary.scanned, summary.qc_failed, summary.sent) == (4, 4, 0)
    codes = [line["code"] for line in listener.wait_for(10)]
    assert codes == ["SCANNER_STARTED", *["SCAN_STARTED", "QC_FAILED"] * 4, "SCANNER_STOPPED"]
    failed = [line for line in listener.lines if line["code"] == "QC_FAILED"]
    assert {line["severity"] for line in failed} == {"error"}
    assert [(line["rack"], line["slot"]) for line in failed] == [(1, 1), (1, 2), (1, 3), (1, 4)]


def test_a_stop_abandons_the_slide_being_scanned_at_once(tmp_path: Path) -> None:
    config = ScannerConfig("Lab 1", 1, "127.0.0.1", closed_port(), "SVS_STORE_SCP", "VSCAN1",
                           False, "DICOM", "127.0.0.1", 0, 0, 15.0)
    scanner = VirtualScanner(SimulatorOptions(speed=1.0, slide_size=(512, 512)), config=config)
    stop = threading.Event()
    threading.Timer(1.0, stop.set).start()
    started = time.monotonic()
    summary = scanner.run(stop)
    assert time.monotonic() - started < 5
    assert (summary.scanned, summary.abandoned, summary.sent) == (0, 1, 0)


def test_events_go_over_tls_trusting_the_lab_ca(tmp_path: Path) -> None:
    lab = TlsFiles(tmp_path / "tls")
    create_lab_pki(lab, default_hosts())
    server_side = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_side.load_cert_chain(lab.server_certificate, lab.server_key)
    with socket.create_server(("127.0.0.1", 0)) as plain:
        sender = EventSender("127.0.0.1", plain.getsockname()[1],
                             TlsClient(lab.ca).context())
        sender.start()
        sender.send(event_line("Lab 1", "error", "QC_FAILED", "over TLS"))
        plain.settimeout(15)
        connection, _ = plain.accept()
        with server_side.wrap_socket(connection, server_side=True) as secure, \
                secure.makefile("rb") as stream:
            assert json.loads(stream.readline())["message"] == "over TLS"
        sender.stop(flush_seconds=0.1)


def test_continuous_loading_swaps_finished_racks_until_the_slide_limit(
    listener: LineListener
) -> None:
    config = ScannerConfig("Lab 1", 1, "127.0.0.1", closed_port(), "SVS_STORE_SCP", "VSCAN1",
                           False, "DICOM", "127.0.0.1", listener.port, 0, 15.0)
    options = SimulatorOptions(racks=2, slides_per_rack=2, continuous=True, slides=7,
                               speed=100_000, qc_failure_rate=1.0, incident_rate=0.0)
    slots: list[tuple[int, int]] = []
    scanner = VirtualScanner(options, config=config)
    scanner.on_slide = lambda report: slots.append((report.slot.rack, report.slot.slot))
    summary = scanner.run(threading.Event())
    assert summary.scanned == 7
    assert slots == [(1, 1), (1, 2), (2, 1), (2, 2), (1, 1), (1, 2), (2, 1)]
    loaded = [line for line in listener.wait_for(18) if line["code"] == "RACK_LOADED"]
    assert [line["rack"] for line in loaded] == [1, 2]
