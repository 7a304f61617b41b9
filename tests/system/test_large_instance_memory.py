"""Importing a 2 GB multi-frame instance streams it: memory stays small, the bytes stay exact.

The real ``slidepacs import`` runs in a subprocess; its peak resident memory is the kernel's
high-water mark for exactly that process (``ru_maxrss`` from ``wait4``). Linux carries
``ru_maxrss`` over ``exec`` from the process that spawned it, and pytest spawns with
``vfork`` (sharing its own large memory), so a tiny launcher forks a clean child and
measures that one instead.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from slidepacs.config import settings_for
from slidepacs.storage.filesystem import file_checksum
from slidepacs.testing.generators import write_ct_series, write_large_multiframe
from tests.cli import SLIDEPACS, clean_environment, toml_config

SIZE = 2 << 30
PEAK_RSS_LIMIT_MB = 300
pytestmark = pytest.mark.slow
_LAUNCHER = """
import os, sys
pid = os.fork()
if pid == 0:
    os.dup2(2, 1)  # the command's output goes to the log; ours stays for the figures
    os.execv(sys.argv[1], sys.argv[1:])
_pid, status, usage = os.wait4(pid, 0)
print(os.waitstatus_to_exitcode(status), usage.ru_maxrss)
"""


def _run_measured(args: list[str], cwd: Path) -> tuple[int, float, float]:
    """Run ``slidepacs ARGS``; return (exit code, peak RSS in MB, seconds)."""
    started = time.monotonic()
    with (cwd / "import.log").open("wb") as log:
        launched = subprocess.run([sys.executable, "-S", "-c", _LAUNCHER, str(SLIDEPACS), *args],
                                  cwd=cwd, env=clean_environment(), stdout=subprocess.PIPE,
                                  stderr=log, timeout=600, check=True)
    seconds = time.monotonic() - started
    code, max_rss_kb = launched.stdout.split()
    return int(code), int(max_rss_kb) / 1024, seconds


def test_import_of_a_2_gb_instance_stays_under_300_mb_and_stores_exact_bytes(
    tmp_path: Path, record_property: pytest.RecordProperty
) -> None:
    source, data, cwd = tmp_path / "large.dcm", tmp_path / "data", tmp_path / "cwd"
    try:
        sop_uid = write_large_multiframe(source, SIZE)
        assert source.stat().st_size >= SIZE - (4 << 20)
        toml_config(cwd, data)
        [small] = write_ct_series(tmp_path / "small", 1, size=64)
        code, baseline_mb, _ = _run_measured(["import", str(small)], cwd)
        assert code == 0, (cwd / "import.log").read_text()
        code, peak_mb, seconds = _run_measured(["import", str(source)], cwd)
        assert code == 0, (cwd / "import.log").read_text()
        record_property("peak_rss_mb", round(peak_mb, 1))
        record_property("baseline_peak_rss_mb", round(baseline_mb, 1))
        record_property("import_seconds", round(seconds, 1))
        print(f"\n2 GiB import: peak RSS {peak_mb:.1f} MB (a 10 KB import: {baseline_mb:.1f} MB), "
              f"{seconds:.1f} s")
        assert peak_mb < PEAK_RSS_LIMIT_MB

        engine = create_engine(settings_for(data).database_url)
        try:
            with engine.connect() as connection:
                relpath, checksum, size = connection.execute(
                    text("SELECT relpath, checksum, file_size FROM instances "
                         "WHERE sop_instance_uid = :uid"), {"uid": sop_uid}).one()
        finally:
            engine.dispose()
        stored = data / relpath
        assert size == stored.stat().st_size == source.stat().st_size
        assert file_checksum(stored) == file_checksum(source) == checksum
    finally:
        source.unlink(missing_ok=True)
        shutil.rmtree(data, ignore_errors=True)
