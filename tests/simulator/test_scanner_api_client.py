"""The virtual scanner's scanner-API client over HTTPS with the lab CA (against a stand-in
that follows docs/scanner-api.md): ETag / 304, a wrong token's clear error, retries while the
API is unreachable; and a scanner's heartbeats, configuration re-pull and metadata."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from slidepacs.errors import AccessDenied, InvalidInput
from slidepacs.simulator.backoff import Backoff
from slidepacs.simulator.client import ApiUnavailable, ScannerApi, ScannerConfig
from slidepacs.simulator.scanner import SimulatorOptions, VirtualScanner
from slidepacs.simulator.sender import TlsClient
from tests.cli import closed_port
from tests.serve_process import ServeProcess
from tests.simulator.stand_ins import TOKEN, ApiStandIn, LineListener


def test_the_config_is_pulled_once_and_then_answered_not_modified(tmp_path: Path) -> None:
    with ApiStandIn(tmp_path, receiver_port=2762) as api_server:
        api = ScannerApi(api_server.url, TOKEN, api_server.lab.ca)
        config, changed = api.pull_config()
        assert changed and (config.version, config.port, config.calling_ae, config.sparse) == (
            7, 2762, "GT450_LAB1", True)
        assert api.pull_config() == (config, False)
        api_server.version = 8
        assert api.pull_config()[0].version == 8
        assert api_server.config_answers == [200, 304, 200]


def test_a_wrong_token_is_reported_as_such(tmp_path: Path) -> None:
    with ApiStandIn(tmp_path) as api_server:
        api = ScannerApi(api_server.url, "wrong", api_server.lab.ca)
        with pytest.raises(AccessDenied, match="refused the token"):
            api.pull_config()


def test_an_api_that_stays_unreachable_gives_api_unavailable_after_the_retries(
    tmp_path: Path
) -> None:
    with ApiStandIn(tmp_path) as api_server:
        ca = api_server.lab.ca
    api = ScannerApi(f"https://127.0.0.1:{closed_port()}/api/v1", TOKEN, ca, attempts=3,
                     backoff=Backoff(0.05, 0.1))
    with pytest.raises(ApiUnavailable, match="cannot reach the scanner API"):
        api.heartbeat("idle", "m", "s", "v")


def test_a_config_without_the_receiver_is_refused_naming_the_field() -> None:
    with pytest.raises(InvalidInput, match="'images'"):
        ScannerConfig.from_json({"scanner": "x", "version": 1})


def test_a_scanner_beats_pulls_a_changed_config_and_posts_metadata_of_sent_slides(
    tmp_path: Path
) -> None:
    port = closed_port()
    with ServeProcess(tmp_path / "server", tmp_path / "data", slide_receiver_port=port), \
            ApiStandIn(tmp_path / "data", receiver_port=port) as api_server:
        lab = api_server.lab
        api = ScannerApi(api_server.url, TOKEN, lab.ca)
        options = SimulatorOptions(racks=1, slides_per_rack=3, speed=50, qc_failure_rate=0,
                                   seed=2, slide_size=(512, 512), first_image_id=42)
        scanner = VirtualScanner(options, api=api,
                                 tls=TlsClient(lab.ca, lab.client_certificate, lab.client_key))
        threading.Timer(0.5, lambda: setattr(api_server, "version", 9)).start()
        summary = scanner.run(threading.Event())
        time.sleep(0.1)
    assert (summary.sent, summary.metadata_posted) == (3, 3), summary.errors
    images = api_server.posted["/images"]
    assert [body["image_id"] for body in images] == ["42", "43", "44"]
    assert images[0]["mpp"] == 0.26 and images[0]["qc"] == "passed"
    assert {"rack", "slot", "barcode", "symbology", "scan_seconds", "file_size"} <= set(images[0])
    assert summary.heartbeats >= 2 and api_server.posted["/heartbeat"][0]["state"]
    assert scanner.config is not None and scanner.config.version == 9


def test_a_scanner_follows_the_event_receiver_to_its_new_port(tmp_path: Path) -> None:
    first, second = LineListener(), LineListener()
    with ApiStandIn(tmp_path, events_port=first.port) as api_server:
        api = ScannerApi(api_server.url, TOKEN, api_server.lab.ca)
        options = SimulatorOptions(racks=1, slides_per_rack=4, speed=60, qc_failure_rate=1.0,
                                   incident_rate=0, seed=1)

        def move() -> None:
            api_server.events_port, api_server.version = second.port, 8

        threading.Timer(0.5, move).start()
        summary = VirtualScanner(options, api=api).run(threading.Event())
    codes_first = [line["code"] for line in first.wait_for(1)]
    codes_second = [line["code"] for line in second.wait_for(2)]
    assert codes_first[0] == "SCANNER_STARTED"
    assert codes_second[-1] == "SCANNER_STOPPED" and "QC_FAILED" in codes_second
    assert summary.events_sent == len(first.lines) + len(second.lines)
    assert summary.events_dropped == 0
