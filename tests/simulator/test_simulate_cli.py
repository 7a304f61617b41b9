"""``slidepacs scanner simulate`` as an administrator runs it: slides to the archive's TLS
slide receiver with the lab CA of the configuration, a summary table, clear errors."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import httpx

from tests.cli import SLIDEPACS, clean_environment, closed_port, run_slidepacs
from tests.serve_process import ServeProcess


def test_simulate_sends_the_slides_and_prints_a_summary(tmp_path: Path) -> None:
    port = closed_port()
    with ServeProcess(tmp_path / "server", tmp_path / "data", slide_receiver_port=port) as server:
        result = run_slidepacs(
            "scanner", "simulate", "--receiver", f"127.0.0.1:{port}", "--calling-ae", "VSCAN7",
            "--racks", "1", "--slides-per-rack", "4", "--speed", "100000", "--sparse",
            "--qc-failure-rate", "0", "--slide-size", "1024x768", "--first-image-id", "9000",
            "--incident-rate", "0", cwd=server.cwd, timeout=120)
        assert result.returncode == 0, result.stdout + result.stderr
        rows = {tuple(cell.strip() for cell in line.strip("│").split("│"))
                for line in result.stdout.splitlines() if line.count("│") == 3}
        assert {("slides scanned", "4"), ("sent", "4"), ("QC failed (not sent)", "0")} <= rows
        series = httpx.get(f"http://127.0.0.1:{server.http_port}/dicom-web/series",
                           params={"includefield": "00200011"}, timeout=30).json()
        assert sorted(s["00200011"]["Value"][0] for s in series) == [9000, 9001, 9002, 9003]


def test_simulate_without_a_lab_ca_says_how_to_get_one(tmp_path: Path) -> None:
    (tmp_path / "slidepacs.toml").write_text(f'[storage]\ndata_path = "{tmp_path / "none"}"\n')
    result = run_slidepacs("scanner", "simulate", "--token", "x", cwd=tmp_path)
    assert result.returncode == 1
    assert "no CA certificate" in result.stderr and "slidepacs tls init" in result.stderr


def test_simulate_without_a_token_says_so(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("not used before the token is checked")
    result = run_slidepacs("scanner", "simulate", "--ca", ca, cwd=tmp_path)
    assert result.returncode == 1
    assert "no scanner token" in result.stderr


def test_ctrl_c_while_the_receiver_is_down_stops_with_a_summary(tmp_path: Path) -> None:
    assert run_slidepacs("tls", "init", cwd=tmp_path).returncode == 0
    process = subprocess.Popen(
        [str(SLIDEPACS), "scanner", "simulate", "--receiver", f"127.0.0.1:{closed_port()}",
         "--speed", "100000", "--qc-failure-rate", "0", "--slide-size", "512x512"],
        cwd=tmp_path, env=clean_environment(), stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True)
    time.sleep(4)  # the first slide is being retried
    process.send_signal(signal.SIGINT)
    out, _ = process.communicate(timeout=30)
    assert process.returncode == 1, out
    assert "stopping" in out and "not sent (stopped while retrying) │ 1" in out
