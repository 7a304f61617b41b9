"""Benchmark data sets, generated once with slidepacs.testing.generators and cached.

Each data set lives in its own folder under the cache with a ``dataset.json`` stamp written
last; a folder without a matching stamp is regenerated, so an interrupted generation is
never reused. Nothing is downloaded.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from slidepacs.testing.generators import write_ct_series, write_large_multiframe

STAMP = "dataset.json"


@dataclass(frozen=True)
class DataSet:
    """A folder of DICOM files to import, with its totals."""

    key: str
    title: str
    folder: Path
    files: int
    bytes: int

    @property
    def megabytes(self) -> float:
        """Total size in MB (10^6 bytes)."""
        return self.bytes / 1e6


def _scan(folder: Path) -> tuple[int, int]:
    sizes = [entry.stat().st_size for entry in os.scandir(folder)
             if entry.is_file() and entry.name.endswith(".dcm")]
    return len(sizes), sum(sizes)


def _cached(folder: Path, spec: dict[str, object]) -> bool:
    stamp = folder / STAMP
    if not stamp.is_file():
        return False
    try:
        return bool(json.loads(stamp.read_text()).get("spec") == spec)
    except ValueError:
        return False


def _generate(folder: Path, spec: dict[str, object], write: Callable[[Path], object]) -> float:
    if folder.exists():
        shutil.rmtree(folder)
    # The data folder holds only DICOM files; the stamp sits beside it.
    data = folder / "files"
    data.mkdir(parents=True)
    started = time.perf_counter()
    write(data)
    os.sync()
    seconds = time.perf_counter() - started
    (folder / STAMP).write_text(json.dumps({"spec": spec, "seconds": seconds}))
    return seconds


def ct_series(cache: Path, count: int, size: int = 512) -> DataSet:
    """``count`` CT-like slices of ``size``² pixels (about 525 KB each at 512)."""
    spec: dict[str, object] = {"kind": "ct", "count": count, "size": size}
    folder = cache / f"ct-{count}x{size}"
    if not _cached(folder, spec):
        print(f"generating {count} CT slices in {folder} ...", flush=True)
        _generate(folder, spec, lambda data: write_ct_series(data, count, size=size))
    files, total = _scan(folder / "files")
    if files != count:
        raise RuntimeError(f"{folder} holds {files} files, expected {count}")
    return DataSet(f"ct{count}", f"{count:,} CT slices ({total / files / 1e3:.0f} KB each)",
                   folder / "files", files, total)


def large_multiframe(cache: Path, total_bytes: int) -> DataSet:
    """One multi-frame true-colour instance of about ``total_bytes``."""
    spec: dict[str, object] = {"kind": "multiframe", "bytes": total_bytes}
    folder = cache / f"multiframe-{total_bytes >> 20}MiB"
    if not _cached(folder, spec):
        print(f"generating a {total_bytes >> 20} MiB multi-frame instance in {folder} ...",
              flush=True)
        _generate(folder, spec,
                  lambda data: write_large_multiframe(data / "large.dcm", total_bytes))
    files, total = _scan(folder / "files")
    if files != 1:
        raise RuntimeError(f"{folder} holds {files} files, expected 1")
    return DataSet(f"large{total_bytes >> 20}M", f"1 multi-frame instance ({total / 1e6:,.0f} MB)",
                   folder / "files", files, total)
