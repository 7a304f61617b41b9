"""End to end through the scanner API (SPEC §5): two virtual scanners registered with
``slidepacs scanner add`` pull their configuration from a running ``slidepacs serve``, send
20 slides each by DICOM TLS and post their metadata; every slide is indexed complete, once,
and its metadata is joined to it. The command line too; and a scanner's events reach the
event receiver over TLS."""

from __future__ import annotations

import re
import sqlite3
import threading
import time
import tomllib
from collections.abc import Callable
from pathlib import Path

import pydicom

from slidepacs.services.certificates import TlsFiles
from slidepacs.simulator.client import ScannerApi
from slidepacs.simulator.scanner import SimulatorOptions, Summary, VirtualScanner
from slidepacs.simulator.sender import TlsClient
from tests.cli import closed_port, run_slidepacs
from tests.serve_process import ServeProcess
from tests.system.event_receiver import indexed_events, logged_events, wait_for_logged

SLIDES = 20


def register(server: ServeProcess, name: str, ae: str) -> str:
    """``slidepacs scanner add``; the token it prints."""
    result = run_slidepacs("scanner", "add", name, "--ae", ae, cwd=server.cwd)
    assert result.returncode == 0, result.stdout + result.stderr
    match = re.search(r"token: (\S+)", result.stdout)
    assert match, result.stdout
    return match[1]


def api_url(server: ServeProcess) -> str:
    settings = tomllib.loads((server.cwd / "slidepacs.toml").read_text())
    return f"https://127.0.0.1:{settings['scanner_api']['port']}/api/v1"


# each scanner's Images settings (slidepacs scanner images NAME …) and what they make of
# the n-th slide, whatever symbology its label carries ("S26-00000n A1", "A2600000nB", …)
RULES = {
    "Lab 1": ["--barcode-identifier", r"S?\d{2}-?\d{6}", "--barcode-modifier",
              r"^S?(\d{2})-?(\d{6})$", "--substitution-format", "S$1-$2",
              "--case-id-format", r"\d{2}-?(\d{6})", "--slide-id-format", r"S?\d{2}-?\d{6}",
              "--filename-format", "{BARCODEID}_{IMAGEID}", "--output-format", "DICOM",
              "--organization", "FULL"],
    "Lab 2": ["--barcode-identifier", r"\d{6}(?!\d)", "--slide-id-format", r"\d{6}(?!\d)",
              "--case-id-format", r"(\d{2})-?\d{6}", "--filename-format",
              "{SLIDEID}-{IMAGEID}", "--output-format", "SVS", "--organization", "SPARSE"],
}


def expected_ids(scanner: str, image_id: int) -> tuple[str, str, str]:
    """(barcode ID, case ID, file name) that scanner's rules give a slide."""
    number = f"{image_id % 1_000_000:06d}"
    if scanner == "Lab 1":
        barcode = f"S26-{number}"
        return barcode, number, f"{barcode}_{image_id}"
    return number, "26", f"{number}-{image_id}"


def scanner_statuses(server: ServeProcess) -> dict[str, str]:
    """Name → ONLINE/OFFLINE from ``slidepacs scanner list``."""
    result = run_slidepacs("scanner", "list", cwd=server.cwd)
    assert result.returncode == 0, result.stderr
    return {name: status for line in result.stdout.splitlines()
            for name in ("Lab 1", "Lab 2") if name in line
            for status in ("ONLINE", "OFFLINE") if status in line}


def indexed_slides(data: Path) -> dict[int, set[tuple[str, str, str, str]]]:
    """Series Number → {(barcode, slide ID, case ID, source)} of the stored slide instances."""
    with sqlite3.connect(data / "index.sqlite") as db:
        rows = db.execute(
            "SELECT s.series_number, i.barcode, i.slide_id, i.case_id, i.source "
            "FROM instances i JOIN series s ON i.series_pk = s.pk").fetchall()
    slides: dict[int, set[tuple[str, str, str, str]]] = {}
    for number, *values in rows:
        slides.setdefault(int(number), set()).add(tuple(values))
    return slides


def test_two_scanners_send_20_slides_each_and_every_one_is_indexed_named_and_joined_per_its_rules(
    tmp_path: Path
) -> None:
    data, out = tmp_path / "data", {"Lab 1": tmp_path / "out1", "Lab 2": tmp_path / "out2"}
    server = ServeProcess(tmp_path / "server", data, slide_receiver_port=closed_port())
    config = server.cwd / "slidepacs.toml"
    config.write_text(config.read_text().replace(
        "[scanner_api]\n", "[scanner_api]\nheartbeat_seconds = 1\nheartbeat_timeout_seconds = 4\n"))
    with server:
        tokens = {name: register(server, name, ae)
                  for name, ae in [("Lab 1", "VSCAN1"), ("Lab 2", "VSCAN2")]}
        for name, options in RULES.items():
            changed = run_slidepacs("scanner", "images", name, *options, "--file-location",
                                    str(out[name]), cwd=server.cwd)
            assert changed.returncode == 0, changed.stdout + changed.stderr
        lab = TlsFiles(data / "tls")
        tls = TlsClient(lab.ca, lab.client_certificate, lab.client_key)
        scanners = {name: VirtualScanner(SimulatorOptions(
            racks=1, slides_per_rack=SLIDES, speed=2_000, qc_failure_rate=0.15,
            incident_rate=0.0, seed=seed, slide_size=(1024, 768), first_image_id=first),
            api=ScannerApi(api_url(server), tokens[name], lab.ca), tls=tls)
            for seed, first, name in [(1, 1000, "Lab 1"), (2, 2000, "Lab 2")]}
        summaries: dict[str, Summary] = {}
        threads = [threading.Thread(target=lambda n=n, s=s: summaries.update({n: s.run(
            threading.Event())})) for n, s in scanners.items()]
        for thread in threads:
            thread.start()
        online = wait_for(lambda: scanner_statuses(server) == {"Lab 1": "ONLINE",
                                                                "Lab 2": "ONLINE"}, 30)
        for thread in threads:
            thread.join(600)
        offline = wait_for(lambda: scanner_statuses(server) == {"Lab 1": "OFFLINE",
                                                                 "Lab 2": "OFFLINE"}, 30)
        events_sent = sum(summary.events_sent for summary in summaries.values())
        assert wait_for_logged(server, events_sent) == events_sent
        assert server.stop() == 0, server.output  # a stop writes the pending SVS copies
    assert online and offline
    slides = indexed_slides(data)
    logged = logged_events(server)
    for name, summary in summaries.items():
        assert summary.scanned == SLIDES and summary.sent + summary.qc_failed == SLIDES, \
            summary.errors
        assert summary.metadata_joined == summary.metadata_posted == summary.sent
        assert summary.heartbeats >= 1 and summary.config_pulls >= 1
        sent = [int(image_id) for image_id in summary.image_ids]
        assert len(sent) == summary.sent and summary.qc_failed >= 1  # seeds with failures
        names = set()
        for image_id in sent:
            barcode, case_id, file_name = expected_ids(name, image_id)
            [(indexed_barcode, slide_id, indexed_case, source)] = slides.pop(image_id)
            assert (indexed_barcode, indexed_case) == (barcode, case_id), image_id
            assert source.endswith(("VSCAN1" if name == "Lab 1" else "VSCAN2"))
            digits = re.sub(r"\D", "", slide_id)
            assert digits == (f"26{image_id % 1_000_000:06d}" if name == "Lab 1"
                              else f"{image_id % 1_000_000:06d}")
            names.add(file_name)
        if name == "Lab 1":  # DICOM output: a folder of the slide's files per slide
            assert {p.name for p in out[name].iterdir()} == names
            assert all(len(list((out[name] / n).glob(f"{n}-*.dcm"))) == 5 for n in names)
        else:  # SVS output: one file per slide
            assert {p.name for p in out[name].iterdir()} == {f"{n}.svs" for n in names}
        assert sum(1 for event in logged if event["scanner"] == name
                   and event["code"] == "QC_FAILED") == summary.qc_failed
    assert slides == {}  # nothing else stored, no slide twice
    indexed = indexed_events(server)
    assert sorted(scanner for scanner, _, code, _ in indexed if code == "QC_FAILED") == sorted(
        name for name, summary in summaries.items() for _ in range(summary.qc_failed))
    assert all(severity <= 3 for _, severity, _, _ in indexed)
    assert organization(data, sent_first(summaries["Lab 1"])) == "TILED_FULL"
    assert organization(data, sent_first(summaries["Lab 2"])) == "TILED_SPARSE"


def sent_first(summary: Summary) -> int:
    return int(summary.image_ids[0])


def organization(data: Path, image_id: int) -> str:
    """DimensionOrganizationType of the stored base level of a slide ("" when none)."""
    with sqlite3.connect(data / "index.sqlite") as db:
        found = db.execute(
            "SELECT i.relpath FROM instances i JOIN series s ON i.series_pk = s.pk "
            "WHERE s.series_number = ? AND i.image_type LIKE '%VOLUME%' "
            "ORDER BY i.pyramid_level", (image_id,)).fetchone()
    if found is None:
        return ""
    return str(pydicom.dcmread(data / found[0], stop_before_pixels=True)
               .get("DimensionOrganizationType", ""))


def wait_for(condition: Callable[[], bool], timeout: float) -> bool:
    """Poll ``condition`` until it holds or ``timeout`` seconds have passed."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.3)
    return True


def test_simulate_command_pulls_its_config_and_reports_metadata_joined(tmp_path: Path) -> None:
    with ServeProcess(tmp_path / "server", tmp_path / "data",
                      slide_receiver_port=closed_port()) as server:
        token = register(server, "Lab 3", "VSCAN3")
        result = run_slidepacs(
            "scanner", "simulate", "--api-url", api_url(server), "--slides", "3",
            "--speed", "100000", "--qc-failure-rate", "0", "--incident-rate", "0",
            "--slide-size", "1024x768", cwd=server.cwd, env={"SLIDEPACS_SCANNER_TOKEN": token},
            timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr
    rows = {tuple(cell.strip() for cell in line.strip("│").split("│"))
            for line in result.stdout.splitlines() if line.count("│") == 3}
    assert {("sent", "3"), ("metadata posted", "3"), ("metadata joined to images", "3")} <= rows


def test_simulate_with_a_wrong_token_says_so(tmp_path: Path) -> None:
    with ServeProcess(tmp_path / "server", tmp_path / "data",
                      slide_receiver_port=closed_port()) as server:
        result = run_slidepacs("scanner", "simulate", "--api-url", api_url(server),
                               "--token", "wrong", cwd=server.cwd)
    assert result.returncode == 1
    assert "refused the token" in result.stderr


def test_a_scanners_events_reach_the_event_log_over_tls_and_its_qc_failures_the_index(
    tmp_path: Path
) -> None:
    data = tmp_path / "data"
    with ServeProcess(tmp_path / "server", data, slide_receiver_port=closed_port()) as server:
        lab = TlsFiles(data / "tls")
        options = SimulatorOptions(racks=1, slides_per_rack=3, speed=100_000,
                                   qc_failure_rate=1.0, incident_rate=0.0, seed=4)
        scanner = VirtualScanner(
            options, api=ScannerApi(api_url(server), register(server, "Lab 4", "VSCAN4"), lab.ca),
            tls=TlsClient(lab.ca, lab.client_certificate, lab.client_key))
        summary = scanner.run(threading.Event())
        assert (summary.events_sent, summary.events_dropped) == (8, 0)
        assert wait_for_logged(server, 8) == 8
        assert server.stop() == 0, server.output
    logged = logged_events(server)
    assert [event["code"] for event in logged] == [
        "SCANNER_STARTED", *["SCAN_STARTED", "QC_FAILED"] * 3, "SCANNER_STOPPED"]
    assert {event["scanner"] for event in logged} == {"Lab 4"}
    assert [(scanner, code) for scanner, _, code, _ in indexed_events(server)] == [
        ("Lab 4", "QC_FAILED")] * 3
