"""The virtual scanner sends its slides to a real ``slidepacs serve`` over DICOM TLS (the slide
receiver, lab PKI made on first start): every slide arrives indexed, complete and once, also
when the archive is down at first."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pydicom
import pytest

from slidepacs.services.certificates import TlsFiles, create_lab_pki, default_hosts
from slidepacs.simulator.backoff import Backoff
from slidepacs.simulator.client import ScannerConfig
from slidepacs.simulator.labels import label_for
from slidepacs.simulator.scanner import SimulatorOptions, VirtualScanner
from slidepacs.simulator.sender import Destination, SlideNotSent, SlideSender, TlsClient
from slidepacs.simulator.slides import write_slide
from tests.cli import closed_port
from tests.helpers import received_files, temporaries
from tests.serve_process import ServeProcess

RECEIVER = "SVS_STORE_SCP"
SIZE = (1024, 768)


def lab_tls(data_path: Path) -> TlsClient:
    files = TlsFiles(data_path / "tls")
    return TlsClient(files.ca, files.client_certificate, files.client_key)


def config_for(port: int, sparse: bool = False) -> ScannerConfig:
    return ScannerConfig("Lab 1", 1, "127.0.0.1", port, RECEIVER, "VSCAN1", sparse, "DICOM",
                         "127.0.0.1", 0, 0, 15.0)


def instances(server: ServeProcess, series_uid: str) -> list[str]:
    """SOP Instance UIDs of the series, as the archive's DICOMweb lists them."""
    answer = httpx.get(f"http://127.0.0.1:{server.http_port}/dicom-web/instances",
                       params={"SeriesInstanceUID": series_uid}, timeout=30)
    answer.raise_for_status()
    return [item["00080018"]["Value"][0] for item in (answer.json() if answer.content else [])]


def assert_indexed_complete(server: ServeProcess, files: tuple[Path, ...]) -> None:
    """Every instance of the slide, and nothing else of its series, is in the archive."""
    headers = [pydicom.dcmread(path, stop_before_pixels=True) for path in files]
    sent = sorted(h.SOPInstanceUID for h in headers)
    assert sorted(instances(server, headers[0].SeriesInstanceUID)) == sent


def sender_to(port: int, data_path: Path, **kwargs: Any) -> SlideSender:
    """A sender to the slide receiver on ``port``, with the lab PKI of ``data_path``."""
    return SlideSender(Destination("127.0.0.1", port, RECEIVER, "VSCAN1"), lab_tls(data_path),
                       **kwargs)


@pytest.fixture
def archive(tmp_path: Path):
    port = closed_port()
    with ServeProcess(tmp_path / "server", tmp_path / "data", slide_receiver_port=port) as server:
        yield server, port


def test_a_slide_sent_over_tls_with_the_lab_client_certificate_is_indexed_complete(
    archive: tuple[ServeProcess, int], tmp_path: Path
) -> None:
    server, port = archive
    slide = write_slide(tmp_path / "slide", "100001", label_for(1), seed=1, size=SIZE)
    assert sender_to(port, tmp_path / "data").send(slide.files, threading.Event()) == 1
    assert_indexed_complete(server, slide.files)


def test_sending_the_same_slide_again_is_accepted_and_stored_once(
    archive: tuple[ServeProcess, int], tmp_path: Path
) -> None:
    server, port = archive
    slide = write_slide(tmp_path / "slide", "100002", label_for(2), seed=2, size=SIZE)
    sender = sender_to(port, tmp_path / "data")
    sender.send_once(slide.files)
    sender.send_once(slide.files)
    assert_indexed_complete(server, slide.files)


def test_a_sender_that_does_not_trust_the_server_gets_slide_not_sent(
    archive: tuple[ServeProcess, int], tmp_path: Path
) -> None:
    _, port = archive
    other = TlsFiles(tmp_path / "other-lab")
    create_lab_pki(other, default_hosts())
    slide = write_slide(tmp_path / "slide", "100003", label_for(3), seed=3, size=SIZE)
    sender = SlideSender(Destination("127.0.0.1", port, RECEIVER, "VSCAN1"),
                         TlsClient(other.ca), timeout=10)
    with pytest.raises(SlideNotSent):
        sender.send_once(slide.files)


def test_a_slide_sent_while_the_archive_is_down_arrives_complete_once_it_is_up(
    tmp_path: Path
) -> None:
    data = tmp_path / "data"
    create_lab_pki(TlsFiles(data / "tls"), default_hosts())  # the scanner was given the CA
    port = closed_port()
    slide = write_slide(tmp_path / "slide", "100004", label_for(4), seed=4, size=SIZE)
    sender = sender_to(port, data, timeout=10, backoff=Backoff(0.2, 1.0))
    attempts: list[int] = []
    sending = threading.Thread(target=lambda: attempts.append(
        sender.send(slide.files, threading.Event())))
    sending.start()
    time.sleep(1.5)
    assert sending.is_alive() and not attempts  # still retrying
    with ServeProcess(tmp_path / "server", data, slide_receiver_port=port) as server:
        sending.join(60)
        assert attempts and attempts[0] > 1
        assert_indexed_complete(server, slide.files)


def test_a_stop_while_retrying_gives_up_with_slide_not_sent(tmp_path: Path) -> None:
    data = tmp_path / "data"
    create_lab_pki(TlsFiles(data / "tls"), default_hosts())
    slide = write_slide(tmp_path / "slide", "100005", label_for(5), seed=5, size=SIZE)
    sender = sender_to(closed_port(), data, timeout=5, backoff=Backoff(0.1, 0.5))
    stop = threading.Event()
    threading.Timer(1.0, stop.set).start()
    with pytest.raises(SlideNotSent, match="stopped after"):
        sender.send(slide.files, stop)


@pytest.mark.parametrize("sparse", [False, True], ids=["FULL", "SPARSE"])
def test_a_virtual_scanner_sends_every_slide_that_passes_qc_and_only_those(
    archive: tuple[ServeProcess, int], tmp_path: Path, sparse: bool
) -> None:
    server, port = archive
    options = SimulatorOptions(racks=2, slides_per_rack=3, priority_racks=1, speed=10_000,
                               qc_failure_rate=0.3, seed=11, slide_size=SIZE,
                               first_image_id=500)
    scanner = VirtualScanner(options, config=config_for(port, sparse),
                             tls=lab_tls(tmp_path / "data"))
    summary = scanner.run(threading.Event())
    assert summary.scanned == 6
    assert summary.sent + summary.qc_failed == 6 and summary.qc_failed > 0
    assert summary.retries == 0 and not summary.errors
    answer = httpx.get(f"http://127.0.0.1:{server.http_port}/dicom-web/series",
                       params={"Modality": "SM", "includefield": "00200011"}, timeout=30).json()
    numbers = sorted(str(s["00200011"]["Value"][0]) for s in answer)
    assert numbers == sorted(summary.image_ids)


def test_a_slide_whose_association_dies_mid_slide_is_sent_again_complete(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data, port = tmp_path / "data", closed_port()
    slide = write_slide(tmp_path / "slide", "100006", label_for(6), seed=6, size=(8192, 8192),
                        tile_pool=None)
    attempts: list[int] = []
    with ServeProcess(tmp_path / "server", data, slide_receiver_port=port) as server:
        sender = sender_to(port, data, timeout=10, backoff=Backoff(0.2, 1.0))
        sending = threading.Thread(target=lambda: attempts.append(
            sender.send(slide.files, threading.Event())))
        sending.start()
        time.sleep(0.3)  # the first instance (the base level, ~20 MB) is on its way
        server.stop(signal.SIGKILL)
    assert not attempts, "the slide went through before the archive died: make it bigger"
    with ServeProcess(tmp_path / "server", data, slide_receiver_port=port) as server:
        sending.join(120)
        assert attempts and attempts[0] > 1
        assert_indexed_complete(server, slide.files)
    first_failure = next(r.getMessage() for r in caplog.records if "attempt 1" in r.getMessage())
    assert "ended while sending" in first_failure  # killed mid-slide, not before it began


def test_priority_racks_are_scanned_first_and_the_same_seed_scans_the_same_slides(
    archive: tuple[ServeProcess, int], tmp_path: Path
) -> None:
    _, port = archive
    options = SimulatorOptions(racks=3, slides_per_rack=2, priority_racks=2, speed=100_000,
                               qc_failure_rate=0.5, incident_rate=0, seed=5, slide_size=(512, 512))
    runs = []
    for _ in range(2):
        reports: list[tuple[int, int, bool, str, bool]] = []
        scanner = VirtualScanner(options, config=config_for(port),
                                 tls=lab_tls(tmp_path / "data"))
        scanner.on_slide = lambda r: reports.append(
            (r.slot.rack, r.slot.slot, r.slot.priority, r.barcode, r.qc_passed))
        scanner.run(threading.Event())
        runs.append(reports)
    assert runs[0] == runs[1]
    assert [(rack, slot, priority) for rack, slot, priority, *_ in runs[0]] == [
        (3, 1, True), (3, 2, True), (2, 1, True), (2, 2, True), (1, 1, False), (1, 2, False)]
    assert len({barcode for *_, barcode, _ in runs[0]}) == 6
    assert {passed for *_, passed in runs[0]} == {True, False}


def receiving(incoming: Path) -> bool:
    """True once the archive writes received bytes into its incoming folder."""
    for path in received_files(incoming) if incoming.is_dir() else []:
        try:
            if path.stat().st_size:
                return True
        except FileNotFoundError:
            continue
    return False


SEND_ONCE = """
import sys
from pathlib import Path
from slidepacs.services.certificates import TlsFiles
from slidepacs.simulator.sender import Destination, SlideSender, TlsClient
port, data, files = int(sys.argv[1]), Path(sys.argv[2]), [Path(p) for p in sys.argv[3:]]
lab = TlsFiles(data / "tls")
SlideSender(Destination("127.0.0.1", port, "SVS_STORE_SCP", "VSCAN1"),
            TlsClient(lab.ca, lab.client_certificate, lab.client_key)).send_once(files)
"""


def test_a_scanner_that_disconnects_mid_slide_leaves_nothing_half_indexed_and_the_slide_arrives_complete_on_retry(  # noqa: E501
    tmp_path: Path
) -> None:
    data, port = tmp_path / "data", closed_port()
    slide = write_slide(tmp_path / "slide", "100007", label_for(7), seed=7, size=(8192, 8192),
                        tile_pool=None)
    sources = {pydicom.dcmread(path).SOPInstanceUID: path for path in slide.files}
    incoming = data / ".incoming"
    with ServeProcess(tmp_path / "server", data, slide_receiver_port=port) as server:
        scanner = subprocess.Popen([sys.executable, "-c", SEND_ONCE, str(port), str(data),
                                    *map(str, slide.files)])
        deadline = time.monotonic() + 60
        while not receiving(incoming):
            assert time.monotonic() < deadline and scanner.poll() is None, "nothing arrived"
            time.sleep(0.01)
        scanner.kill()  # the scanner goes away in the middle of an instance
        scanner.wait()
        while received_files(incoming) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert received_files(incoming) == [] and temporaries(data) == []
        series_uid = pydicom.dcmread(slide.files[0], stop_before_pixels=True).SeriesInstanceUID
        partly = instances(server, series_uid)
        assert len(partly) < len(sources)  # the slide is not all there …
        for uid in partly:  # … and what is indexed is whole, byte for byte its pixel data
            [stored] = data.rglob(f"{uid}.dcm")
            assert pydicom.dcmread(stored).PixelData == pydicom.dcmread(sources[uid]).PixelData
        assert sender_to(port, data).send(slide.files, threading.Event()) == 1
        assert_indexed_complete(server, slide.files)
