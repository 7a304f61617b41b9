"""Receiving a 4 GB instance by C-STORE streams it: the server's memory stays flat.

dcmtk's ``storescu`` sends a generated ~4 GB multi-frame instance (just under the 4 GiB a
32-bit Pixel Data length allows) to a real ``slidepacs serve``. The server's resident memory
is polled from /proc during the transfer and compared with its resident memory after
start-up and one small store; the kernel's high-water mark (VmHWM) catches any peak between
two polls.
"""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
import time
from pathlib import Path

import pytest

from slidepacs.testing.generators import write_ct_series, write_large_multiframe
from tests.helpers import temporaries
from tests.protocol.scu import dataset_offset
from tests.serve_process import ServeProcess, storescu

SIZE = 4_000_000_000
RSS_RISE_LIMIT_MB = 300
POLL_SECONDS = 0.05
pytestmark = pytest.mark.slow


def _dataset_sha256(path: Path) -> str:
    """SHA-256 of the data set part of a Part 10 file (what travels in the C-STORE)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        handle.seek(dataset_offset(path))
        while chunk := handle.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()


def _watch(server: ServeProcess, process) -> tuple[int, int]:
    """Poll the server's memory until ``process`` exits; return (max VmRSS, VmHWM) in KiB."""
    peak = 0
    while process.poll() is None:
        peak = max(peak, server.memory_kb()[0])
        time.sleep(POLL_SECONDS)
    rss, hwm = server.memory_kb()
    return max(peak, rss), hwm


def test_storescu_of_a_4_gb_instance_raises_serve_rss_by_less_than_300_mb(
    tmp_path: Path, record_property: pytest.RecordProperty
) -> None:
    source, data = tmp_path / "large.dcm", tmp_path / "data"
    try:
        sop_uid = write_large_multiframe(source, SIZE)
        size = source.stat().st_size
        assert SIZE - (8 << 20) < size < 0xFFFFFFFE
        [small] = write_ct_series(tmp_path / "small", 1, size=64)
        with ServeProcess(tmp_path / "cwd", data) as server:
            warm_up = storescu(server.port, server.ae_title, small)
            assert warm_up.wait(60) == 0, warm_up.communicate()[0]
            time.sleep(1.0)
            baseline_kb = server.memory_kb()[0]
            started = time.monotonic()
            sender = storescu(server.port, server.ae_title, source)
            peak_kb, hwm_kb = _watch(server, sender)
            seconds = time.monotonic() - started
            output = sender.communicate()[0]
            assert sender.returncode == 0, output
            assert server.stop() == 0, server.output
        rise_mb, hwm_rise_mb = (peak_kb - baseline_kb) / 1024, (hwm_kb - baseline_kb) / 1024
        for name, value in [("baseline_rss_mb", baseline_kb / 1024), ("peak_rss_mb", peak_kb / 1024),
                            ("peak_hwm_mb", hwm_kb / 1024), ("rss_rise_mb", rise_mb),
                            ("hwm_rise_mb", hwm_rise_mb), ("seconds", seconds),
                            ("mb_per_second", size / 1e6 / seconds)]:
            record_property(name, round(value, 1))
        print(f"\n4 GB C-STORE: baseline RSS {baseline_kb / 1024:.0f} MB, peak RSS "
              f"{peak_kb / 1024:.0f} MB (+{rise_mb:.0f}), VmHWM {hwm_kb / 1024:.0f} MB "
              f"(+{hwm_rise_mb:.0f}), {seconds:.1f} s, {size / 1e6 / seconds:.0f} MB/s")
        assert rise_mb < RSS_RISE_LIMIT_MB
        assert hwm_rise_mb < RSS_RISE_LIMIT_MB

        with sqlite3.connect(data / "index.sqlite") as index:
            relpath, file_size = index.execute(
                "SELECT relpath, file_size FROM instances WHERE sop_instance_uid = ?",
                (sop_uid,)).fetchone()
        stored = data / relpath
        assert stored.stat().st_size == file_size
        assert _dataset_sha256(stored) == _dataset_sha256(source)
        assert not temporaries(data)
    finally:
        source.unlink(missing_ok=True)
        shutil.rmtree(data, ignore_errors=True)
