"""Conversion streams: peak memory does not grow with the size of the slide."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from slidepacs.testing.slides import SlideSpec, make_svs

# VmHWM, not ru_maxrss: ru_maxrss keeps the resident size the child inherited from pytest
# between fork and exec, VmHWM starts again with the new program
MEASURE = """
import sys
from pathlib import Path
from slidepacs.wsi.convert import Target, convert
from slidepacs.wsi.to_dicom import DicomOptions
source, out, target = Path(sys.argv[1]), Path(sys.argv[2]), Target(sys.argv[3])
convert(source, out, target, DicomOptions(sparse=sys.argv[4] == "sparse"))
status = open("/proc/self/status").read().split("VmHWM:")[1]
print(int(status.split()[0]) // 1024)
"""


def _peak_mb(*args: str | Path) -> int:
    done = subprocess.run([sys.executable, "-c", MEASURE, *map(str, args)], check=True,
                          capture_output=True, text=True, timeout=600)
    return int(done.stdout.split()[-1])


@pytest.mark.slow
@pytest.mark.parametrize("organization", ["full", "sparse"])
def test_peak_memory_stays_flat_from_a_small_to_a_16x_larger_slide(
    tmp_path: Path, organization: str
) -> None:
    small = make_svs(tmp_path / "small.svs", SlideSpec(width=4096, height=4096, tile_pool=64))
    large = make_svs(tmp_path / "large.svs", SlideSpec(width=16384, height=16384, tile_pool=64))
    assert large.stat().st_size > 60_000_000
    peaks = {}
    for name, svs in (("small", small), ("large", large)):
        peaks[name] = _peak_mb(svs, tmp_path / f"{name}-dicom", "dicom", organization)
        peaks[name + "-back"] = _peak_mb(tmp_path / f"{name}-dicom", tmp_path / f"{name}.back.svs",
                                         "svs", organization)
    assert peaks["large"] - peaks["small"] < 40, peaks
    assert peaks["large-back"] - peaks["small-back"] < 40, peaks
    assert max(peaks.values()) < 300, peaks


@pytest.mark.slow
def test_pyramid_completion_memory_is_about_one_tile_row(tmp_path: Path) -> None:
    svs = make_svs(tmp_path / "base.svs", SlideSpec(width=12288, height=6144, downsamples=(1,),
                                                    tile_pool=64))
    peak = _peak_mb(svs, tmp_path / "dicom", "dicom", "full")
    # one decoded tile row of the base (256 × 12288 × 3 = 9 MB) plus one per derived level
    assert peak < 250, peak
    assert len(list((tmp_path / "dicom").glob("level-*.dcm"))) == 7
