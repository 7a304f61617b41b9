"""STOW-RS ingest: the same CT slices POSTed to ``slidepacs serve`` and to Orthanc's DICOMweb
plugin, in one run.

Each run starts both servers on empty archives (their start-up is not timed), then
``--clients`` threads POST the data set to ``/dicom-web/studies`` in multipart/related
requests of ``--per-request`` instances each, over keep-alive connections. The request bodies
are built before the clock starts, so the client costs the same for both. Every response must
be 200 and reference every instance sent (no Failed SOP Sequence); the servers' CPU comes from
/proc. Peers alternate within a run and their order rotates; medians of ``--runs``.
Orthanc keeps its defaults for durability (``SyncStorageArea``: true), as slidepacs fsyncs.

    .venv/bin/python bench/stow_bench.py                      # 2,000 CT slices, 3 runs
    .venv/bin/python bench/stow_bench.py --quick              # 300 slices, 1 run
    .venv/bin/python bench/stow_bench.py --code /tmp/other    # slidepacs from another tree
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import resource
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.datasets import DataSet, ct_series  # noqa: E402
from bench.measure import wait_for_quiet  # noqa: E402
from bench.orthanc import OrthancServer, orthanc_version, process_cpu_seconds  # noqa: E402
from bench.wado_bench import DICOMWEB_PLUGIN, Slidepacs  # noqa: E402

BENCH = Path(__file__).resolve().parent
BOUNDARY = "slidepacs-stow-bench-boundary"
CONTENT_TYPE = f'multipart/related; type="application/dicom"; boundary={BOUNDARY}'
REFERENCED = "00081199"  # Referenced SOP Sequence in the DICOM JSON answer
FAILED = "00081198"  # Failed SOP Sequence


@dataclass(frozen=True)
class Run:
    """One peer's upload of the whole data set."""

    peer: str
    run: int
    seconds: float
    server_cpu: float
    client_cpu: float
    stored: int

    def files_per_second(self, files: int) -> float:
        """Instances stored per second of wall time."""
        return files / self.seconds


def bodies(data: DataSet, per_request: int) -> list[tuple[bytes, int]]:
    """The data set's files as multipart/related bodies of ``per_request`` parts each, with
    the number of parts."""
    files = sorted(p for p in data.folder.rglob("*") if p.is_file())
    out: list[tuple[bytes, int]] = []
    for start in range(0, len(files), per_request):
        chunk = files[start:start + per_request]
        pieces = [b"".join((f"--{BOUNDARY}\r\nContent-Type: application/dicom\r\n\r\n".encode(),
                            path.read_bytes(), b"\r\n")) for path in chunk]
        out.append((b"".join(pieces) + f"--{BOUNDARY}--\r\n".encode(), len(chunk)))
    return out


def post_all(port: int, requests: Sequence[tuple[bytes, int]], clients: int) -> tuple[float, int]:
    """POST every body with ``clients`` threads on keep-alive connections; the wall time and
    the number of instances the answers reference. RuntimeError on any failure."""
    lock = threading.Lock()
    queue = list(reversed(requests))
    stored = [0]
    errors: list[str] = []

    def client() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
        try:
            while True:
                with lock:
                    if not queue or errors:
                        return
                    body, parts = queue.pop()
                connection.request("POST", "/dicom-web/studies", body=body,
                                   headers={"Content-Type": CONTENT_TYPE,
                                            "Accept": "application/dicom+json"})
                answer = connection.getresponse()
                text = answer.read().decode("utf-8", "replace")
                referenced, failed = _counts(text)
                with lock:
                    if answer.status != 200 or failed or referenced != parts:
                        errors.append(f"HTTP {answer.status}, {referenced} of {parts} "
                                      f"referenced: {text[:200]}")
                    stored[0] += referenced
        finally:
            connection.close()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - start
    if errors:
        raise RuntimeError(f"{len(errors)} requests failed; first: {errors[0]}")
    return seconds, stored[0]


def _counts(text: str) -> tuple[int, int]:
    """How many instances a STOW-RS JSON answer references, and how many it says failed."""
    try:
        answer = json.loads(text)
    except ValueError:
        return 0, 0
    item = answer[0] if isinstance(answer, list) else answer
    return (len(item.get(REFERENCED, {}).get("Value", [])),
            len(item.get(FAILED, {}).get("Value", [])))


def measure(peer: str, run: int, work: Path, requests: Sequence[tuple[bytes, int]],
            clients: int, code: Path | None) -> Run:
    """Start ``peer`` on an empty archive, upload everything, stop it."""
    folder = Path(tempfile.mkdtemp(prefix=f"stow-{peer}-", dir=work))
    try:
        if peer == "slidepacs":
            server: Slidepacs | OrthancServer = Slidepacs(
                folder, folder / "data", "", "serve", [code] if code else [])
            port, pid = server.port, server.pid
        else:
            server = OrthancServer(root=folder, settings={
                "Plugins": [str(DICOMWEB_PLUGIN)],
                "DicomWeb": {"Enable": True, "Root": "/dicom-web/"}})
            server.start()
            port, pid = server.http_port, server.pid
        try:
            wait_for_quiet(timeout=float(os.environ.get("STOW_BENCH_QUIET_S", "300")))
            cpu_before = process_cpu_seconds(pid)[0]
            client_before = resource.getrusage(resource.RUSAGE_SELF)
            seconds, stored = post_all(port, requests, clients)
            client_after = resource.getrusage(resource.RUSAGE_SELF)
            server_cpu = process_cpu_seconds(pid)[0] - cpu_before
        finally:
            server.stop()
        client_cpu = (client_after.ru_utime + client_after.ru_stime
                      - client_before.ru_utime - client_before.ru_stime)
        return Run(peer, run, seconds, server_cpu, client_cpu, stored)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def table(runs: Sequence[Run], data: DataSet) -> str:
    """Medians per peer, and the ratio."""
    lines = ["| peer | files/s | MB/s | time s | server CPU s | client CPU s | runs |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    medians: dict[str, float] = {}
    for peer in ("slidepacs", "orthanc"):
        mine = [r for r in runs if r.peer == peer]
        seconds = statistics.median(r.seconds for r in mine)
        medians[peer] = data.files / seconds
        lines.append(
            f"| {peer} | {data.files / seconds:.0f} | {data.megabytes / seconds:.0f} | "
            f"{seconds:.2f} | {statistics.median(r.server_cpu for r in mine):.2f} | "
            f"{statistics.median(r.client_cpu for r in mine):.2f} | "
            f"{', '.join(f'{data.files / r.seconds:.0f}' for r in mine)} |")
    ratios = [r1.seconds and r2.seconds / r1.seconds
              for r1, r2 in zip([r for r in runs if r.peer == "slidepacs"],
                                [r for r in runs if r.peer == "orthanc"], strict=True)]
    lines.append("")
    lines.append(f"slidepacs / Orthanc (median of medians): "
                 f"**{medians['slidepacs'] / medians['orthanc']:.2f}×** (per run "
                 f"{', '.join(f'{x:.2f}' for x in ratios)})")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    """Run the benchmark and print its table."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--per-request", type=int, default=10)
    parser.add_argument("--quick", action="store_true", help="300 slices, 1 run")
    parser.add_argument("--code", type=Path, help="run slidepacs from this source tree")
    parser.add_argument("--work", type=Path, default=BENCH / "out" / "stow")
    args = parser.parse_args(argv)
    data = ct_series(BENCH / "out" / "cache", 300 if args.quick else 2000)
    runs_wanted = 1 if args.quick else args.runs
    args.work.mkdir(parents=True, exist_ok=True)
    requests = bodies(data, args.per_request)
    runs: list[Run] = []
    peers = ["slidepacs", "orthanc"]
    for number in range(1, runs_wanted + 1):
        for peer in peers if number % 2 else reversed(peers):
            result = measure(peer, number, args.work, requests, args.clients, args.code)
            runs.append(result)
            print(f"run {number} {peer:10} {result.seconds:6.2f} s "
                  f"{result.files_per_second(data.files):7.1f} files/s  server CPU "
                  f"{result.server_cpu:.2f} s", flush=True)
    print(f"\n{data.title}: {data.files:,} files, {data.megabytes:,.0f} MB; "
          f"{args.clients} clients, {args.per_request} instances per request; "
          f"Orthanc {orthanc_version()}; {os.cpu_count()} cores\n")
    print(table(runs, data))


if __name__ == "__main__":
    main()
