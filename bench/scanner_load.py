"""Load: many virtual scanners sending slides to one ``slidepacs serve`` (issue 7, SPEC §5).

A fresh ``slidepacs serve`` (SQLite index, TLS slide receiver, scanner API, event receiver;
unknown AEs refused, as installed) gets ``--scanners`` virtual scanners registered with
``slidepacs scanner add``. Each scanner runs in a process of its own (``VirtualScanner`` at
``--speed``, racks reloaded continuously, QC failures at 2 %) for ``--seconds``; then they
stop, the archive settles and stops, and the index is checked:

- every slide a scanner reports sent is indexed once, complete (6 instances), under the
  scanner's AE title — no slide lost, none twice;
- metadata joined for every sent slide.

Reported: slides/hour and MB/s sustained over the run, how many GT 450-class scanners
(81 slides/hour each) that is, the archive's CPU seconds per slide (``/proc/<pid>/stat``), and
what that CPU cost means for a machine whose cores only ingest. The virtual scanners make
their slides on the same 2 cores, so the measured rate is bounded by slide generation too;
the CPU split says how much of the machine ingest took.

    .venv/bin/python bench/scanner_load.py [--scanners 20] [--seconds 300] [--speed 1000]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import re
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SLIDEPACS = ROOT / ".venv" / "bin" / "slidepacs"
GT450_SLIDES_PER_HOUR = 81
INSTANCES_PER_SLIDE = 6  # default slide size: 3 pyramid levels + label, overview, thumbnail


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def write_config(folder: Path) -> dict[str, int]:
    ports = {name: free_port() for name in ("dicom", "receiver", "http", "print", "api",
                                             "events", "events_tls")}
    (folder / "slidepacs.toml").write_text(
        f"[dicom]\nport = {ports['dicom']}\n"
        f"[slide_receiver]\nport = {ports['receiver']}\n"
        f"[http]\nport = {ports['http']}\n[print]\nport = {ports['print']}\n"
        f"[scanner_api]\nport = {ports['api']}\n"
        f"[events]\nport = {ports['events']}\ntls_port = {ports['events_tls']}\n"
        f'[storage]\ndata_path = "{folder / "data"}"\n', encoding="utf-8")
    return ports


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_scanner(args: tuple[str, str, Path, int, float, float, int]) -> dict:
    """One virtual scanner in this process until ``seconds`` have passed; its summary."""
    url, token, tls_folder, seed, speed, seconds, first = args
    from slidepacs.services.certificates import TlsFiles
    from slidepacs.simulator.client import ScannerApi
    from slidepacs.simulator.scanner import SimulatorOptions, VirtualScanner
    from slidepacs.simulator.sender import TlsClient

    lab = TlsFiles(tls_folder)
    scanner = VirtualScanner(
        SimulatorOptions(racks=15, slides_per_rack=30, speed=speed, continuous=True,
                         qc_failure_rate=0.02, incident_rate=0.02, seed=seed,
                         first_image_id=first),
        api=ScannerApi(url, token, lab.ca),
        tls=TlsClient(lab.ca, lab.client_certificate, lab.client_key))
    stop = threading.Event()
    threading.Timer(seconds, stop.set).start()
    summary = scanner.run(stop)
    return {"seed": seed, "sent": summary.sent, "qc_failed": summary.qc_failed,
            "bytes": summary.bytes_sent, "joined": summary.metadata_joined,
            "retries": summary.retries, "not_sent": summary.not_sent,
            "image_ids": list(summary.image_ids), "errors": summary.errors[:3]}


def indexed(data: Path) -> dict[str, list[tuple[int, int]]]:
    """AE title → [(series number, instances)] of the stored slides."""
    with sqlite3.connect(data / "index.sqlite") as db:
        rows = db.execute(
            "SELECT i.source, s.series_number, COUNT(*) FROM instances i "
            "JOIN series s ON i.series_pk = s.pk GROUP BY s.pk").fetchall()
    slides: dict[str, list[tuple[int, int]]] = {}
    for source, number, count in rows:
        slides.setdefault(source.split(":")[-1], []).append((int(number), count))
    return slides


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scanners", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=300.0)
    parser.add_argument("--speed", type=float, default=1000.0)
    options = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="scanner-load-"))
    ports = write_config(work)
    server = subprocess.Popen([str(SLIDEPACS), "serve"], cwd=work, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    assert server.stdout is not None
    first_line = server.stdout.readline()
    if "slidepacs is running" not in first_line:
        print(first_line + server.stdout.read(), file=sys.stderr)
        return 1
    threading.Thread(target=server.stdout.read, daemon=True).start()  # drain the banner
    tokens = []
    for number in range(1, options.scanners + 1):
        added = subprocess.run([str(SLIDEPACS), "scanner", "add", f"Load {number}", "--ae",
                                f"LOAD{number}"], cwd=work, capture_output=True, text=True,
                               check=True)
        tokens.append(re.search(r"token: (\S+)", added.stdout)[1])  # type: ignore[index]
    url = f"https://127.0.0.1:{ports['api']}/api/v1"
    jobs = [(url, token, work / "data" / "tls", number, options.speed, options.seconds,
             number * 100_000) for number, token in enumerate(tokens, start=1)]
    cpu_before, started = cpu_seconds(server.pid), time.monotonic()
    with multiprocessing.get_context("spawn").Pool(len(jobs)) as pool:
        summaries = pool.map(run_scanner, jobs)
    elapsed = time.monotonic() - started
    time.sleep(2)
    server_cpu = cpu_seconds(server.pid) - cpu_before
    server.send_signal(signal.SIGTERM)
    server.wait(120)
    slides = indexed(work / "data")
    sent = sum(s["sent"] for s in summaries)
    megabytes = sum(s["bytes"] for s in summaries) / 1e6
    lost = duplicated = incomplete = 0
    for number, summary in enumerate(summaries, start=1):
        stored = slides.get(f"LOAD{number}", [])
        numbers = [n for n, _ in stored]
        expected = {int(i) for i in summary["image_ids"]}
        lost += len(expected - set(numbers))
        duplicated += len(numbers) - len(set(numbers))
        incomplete += sum(1 for _, count in stored if count != INSTANCES_PER_SLIDE)
    per_hour = sent / elapsed * 3600
    cpu_per_slide = server_cpu / sent if sent else float("nan")
    cores = os.cpu_count() or 1
    print(f"scanner load: {options.scanners} virtual scanners, speed {options.speed:g}, "
          f"{elapsed:.0f} s, work folder {work}")
    print(f"| slides sent | indexed | lost | twice | incomplete | QC failed | retries | "
          f"metadata joined |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    print(f"| {sent} | {sum(len(v) for v in slides.values())} | {lost} | {duplicated} | "
          f"{incomplete} | {sum(s['qc_failed'] for s in summaries)} | "
          f"{sum(s['retries'] for s in summaries)} | {sum(s['joined'] for s in summaries)} |")
    print()
    print(f"- sustained: **{per_hour:,.0f} slides/hour**, {megabytes / elapsed:.1f} MB/s "
          f"({megabytes / sent if sent else 0:.1f} MB a slide) = "
          f"{per_hour / GT450_SLIDES_PER_HOUR:.1f} GT 450-class scanners at "
          f"{GT450_SLIDES_PER_HOUR} slides/hour")
    print(f"- archive CPU: {server_cpu:.0f} s = {cpu_per_slide * 1000:.0f} ms a slide, "
          f"{server_cpu / elapsed:.2f} of {cores} cores; the rest went to the scanners")
    print(f"- ingest alone on {cores} cores at that cost: "
          f"{cores * 3600 / cpu_per_slide:,.0f} slides/hour = "
          f"{cores * 3600 / cpu_per_slide / GT450_SLIDES_PER_HOUR:.0f} GT 450-class scanners "
          f"(slides of this size)")
    for summary in summaries:
        if summary["errors"]:
            print(f"- scanner {summary['seed']}: {summary['errors']}")
    return 0 if lost == duplicated == incomplete == 0 else 2


if __name__ == "__main__":
    sys.exit(main())
