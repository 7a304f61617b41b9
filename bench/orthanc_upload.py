"""Upload DICOM files to Orthanc's REST API (``POST /instances``), as ImportDicomFiles.py does.

Run as a separate process so that its CPU time and peak memory can be measured on their own::

    python bench/orthanc_upload.py --url http://127.0.0.1:8042 --threads 4 FOLDER

Each uploader thread keeps one HTTP/1.1 keep-alive connection (``http.client``) and streams
the file from disk in 1 MiB blocks. Prints one JSON object with the counts and the seconds
spent uploading (interpreter start-up excluded).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import queue
import sys
import threading
import time
import urllib.parse
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

BLOCK = 1 << 20


@dataclass
class UploadReport:
    """What one upload run did."""

    files: int = 0
    bytes: int = 0
    seconds: float = 0.0
    threads: int = 1
    statuses: dict[str, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)


def dicom_files(root: Path) -> list[Path]:
    """Every regular file under ``root`` (or ``root`` itself), sorted by path."""
    if root.is_file():
        return [root]
    found = [Path(folder, name) for folder, _dirs, names in os.walk(root) for name in names]
    return sorted(found)


class _Uploader(threading.Thread):
    """One worker: takes paths from a queue and POSTs them over one keep-alive connection."""

    def __init__(self, base: urllib.parse.SplitResult, work: queue.SimpleQueue[Path | None],
                 statuses: Counter[str], failures: list[str], lock: threading.Lock) -> None:
        super().__init__(daemon=True)
        self._host = base.hostname or "127.0.0.1"
        self._port = base.port or 80
        self._work = work
        self._statuses = statuses
        self._failures = failures
        self._lock = lock

    def run(self) -> None:
        connection = http.client.HTTPConnection(self._host, self._port, timeout=600,
                                                blocksize=BLOCK)
        try:
            while (path := self._work.get()) is not None:
                self._record(path, self._post(connection, path))
        finally:
            connection.close()

    def _post(self, connection: http.client.HTTPConnection, path: Path) -> str:
        size = path.stat().st_size
        headers = {"Content-Type": "application/dicom", "Content-Length": str(size)}
        try:
            with path.open("rb", buffering=0) as body:
                connection.request("POST", "/instances", body=body, headers=headers)
                response = connection.getresponse()
                payload = response.read()
        except (OSError, http.client.HTTPException) as exc:
            connection.close()  # reconnects on the next request
            return f"error: {exc}"
        if response.status != 200:
            return f"HTTP {response.status}: {payload[:200]!r}"
        return str(json.loads(payload).get("Status", "?"))

    def _record(self, path: Path, status: str) -> None:
        with self._lock:
            self._statuses[status] += 1
            if status not in ("Success", "AlreadyStored"):
                self._failures.append(f"{path}: {status}")


def upload(url: str, paths: list[Path], threads: int) -> UploadReport:
    """POST every file to ``url``/instances with ``threads`` concurrent connections."""
    base = urllib.parse.urlsplit(url)
    work: queue.SimpleQueue[Path | None] = queue.SimpleQueue()
    for path in paths:
        work.put(path)
    for _ in range(threads):
        work.put(None)
    statuses: Counter[str] = Counter()
    failures: list[str] = []
    lock = threading.Lock()
    workers = [_Uploader(base, work, statuses, failures, lock) for _ in range(threads)]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    seconds = time.perf_counter() - started
    return UploadReport(
        files=len(paths), bytes=sum(p.stat().st_size for p in paths), seconds=seconds,
        threads=threads, statuses=dict(statuses), failures=failures[:20],
    )


def main(argv: list[str] | None = None) -> int:
    """Upload the files named on the command line; print a JSON report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="Orthanc base URL, e.g. http://127.0.0.1:8042")
    parser.add_argument("--threads", type=int, default=4, help="concurrent uploaders")
    parser.add_argument("paths", nargs="+", type=Path, help="files or folders")
    args = parser.parse_args(argv)
    paths = [p for root in args.paths for p in dicom_files(root)]
    report = upload(args.url, paths, max(1, args.threads))
    json.dump(asdict(report), sys.stdout)
    sys.stdout.write("\n")
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())
