"""Benchmark ``slidepacs convert`` on a synthetic SVS of a given size.

Measures wall time, throughput and peak RSS of SVS → DICOM (TILED_FULL and TILED_SPARSE),
DICOM → SVS, base-only pyramid completion, and a plain copy of the same bytes (read, write,
fsync) as the floor.

    .venv/bin/python -m bench.wsi_convert --size-mb 200
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

from bench.measure import run_child
from slidepacs.testing.slides import SlideSpec, make_svs
from slidepacs.wsi.convert import Target, convert
from slidepacs.wsi.to_dicom import DicomOptions

OUT = Path(__file__).parent / "out" / "wsi"
SLIDEPACS = Path(sys.executable).with_name("slidepacs")
BYTES_PER_TILE = 15_700  # generator average at quality 85 (tissue ~33 KB, glass ~5 KB)


def _spec(size_mb: int, levels: tuple[int, ...]) -> SlideSpec:
    tiles = size_mb * 1_000_000 / BYTES_PER_TILE / (1 + 1 / 16 + 1 / 256)
    side = int(tiles ** 0.5 * 256)
    return SlideSpec(width=side, height=side, downsamples=levels, tile_pool=400)


def _plain_copy(source: Path, target: Path) -> float:
    started = time.perf_counter()
    with open(source, "rb") as src, open(target, "wb") as dst:
        shutil.copyfileobj(src, dst, 8 << 20)
        dst.flush()
        os.fsync(dst.fileno())
    return time.perf_counter() - started


def _convert(name: str, source: Path, out: Path, *options: str) -> dict[str, object]:
    shutil.rmtree(out, ignore_errors=True) if out.is_dir() else out.unlink(missing_ok=True)
    run = run_child([SLIDEPACS, "convert", source, out, *options],
                    env={**os.environ, "COLUMNS": "120"})
    if run.returncode:
        raise SystemExit(f"{name} failed: {run.stderr}")
    size = source.stat().st_size if source.is_file() else sum(
        p.stat().st_size for p in source.iterdir())
    return {"step": name, "seconds": round(run.wall, 2), "mb_per_s": round(size / run.wall / 1e6),
            "peak_rss_mb": round(run.peak_rss / 2**20), "cpu_seconds": round(run.cpu, 1)}


def _in_process(source: Path, out: Path) -> dict[str, object]:
    """SVS → DICOM without the command's start-up (imports of every CLI command)."""
    shutil.rmtree(out, ignore_errors=True)
    started = time.perf_counter()
    convert(source, out, Target.DICOM, DicomOptions())
    seconds = time.perf_counter() - started
    return {"step": "SVS → DICOM TILED_FULL, in-process", "seconds": round(seconds, 2),
            "mb_per_s": round(source.stat().st_size / seconds / 1e6), "peak_rss_mb": None}


def main() -> None:
    """Generate the slides, run every step, print a Markdown table and save JSON."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mb", type=int, default=200)
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    svs = OUT / f"slide-{args.size_mb}mb.svs"
    if not svs.exists():
        make_svs(svs, _spec(args.size_mb, (1, 4, 16)))
    base = OUT / f"base-{args.size_mb // 4}mb.svs"
    if not base.exists():
        make_svs(base, _spec(args.size_mb // 4, (1,)))
    copy_seconds = _plain_copy(svs, OUT / "copy.svs")
    (OUT / "copy.svs").unlink()
    startup = run_child([SLIDEPACS, "--version"])
    results = [
        {"step": "plain copy (floor)", "seconds": round(copy_seconds, 2),
         "mb_per_s": round(svs.stat().st_size / copy_seconds / 1e6), "peak_rss_mb": None},
        {"step": "`slidepacs --version` (command start-up)", "seconds": round(startup.wall, 2),
         "mb_per_s": None, "peak_rss_mb": round(startup.peak_rss / 2**20)},
        _convert("SVS → DICOM TILED_FULL", svs, OUT / "full", "--to", "dicom"),
        _in_process(svs, OUT / "in-process"),
        _convert("SVS → DICOM TILED_SPARSE", svs, OUT / "sparse", "--to", "dicom",
                 "--organization", "sparse"),
        _convert("DICOM → SVS", OUT / "full", OUT / "back.svs", "--to", "svs"),
        _convert("base-only SVS → DICOM + derived levels", base, OUT / "derived", "--to",
                 "dicom"),
    ]
    print(f"slide: {svs.name}, {svs.stat().st_size / 1e6:.0f} MB; base-only: "
          f"{base.stat().st_size / 1e6:.0f} MB; {os.cpu_count()} CPUs")
    print("| step | seconds | MB/s | peak RSS MB |\n| --- | --- | --- | --- |")
    for row in results:
        print(f"| {row['step']} | {row['seconds']} | {row['mb_per_s']} | {row['peak_rss_mb']} |")
    (OUT / "results.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
