"""A 17×17 in film at 320 dpi renders with peak RSS under 400 MB (SPEC §8)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

RENDER = r"""
import json, sys, time
import numpy as np
from slidepacs.domain.film import film_spec
from slidepacs.imaging.film_render import BoxImage, render_film, write_film
from pathlib import Path
colour = sys.argv[2] == "colour"
spec = film_spec({"ImageDisplayFormat": "STANDARD\\2,2", "FilmSizeID": "17INX17IN",
                  "MagnificationType": "CUBIC"})
shape = (2048, 2048, 3) if colour else (2048, 2048)
images = {n: BoxImage(np.random.default_rng(n).integers(0, 256, shape, np.uint8))
          for n in (1, 2, 3, 4)}
def peak_mb():
    # VmHWM: this process image's own peak (ru_maxrss would carry pytest's peak across exec)
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
before = peak_mb()
start = time.perf_counter()
pixels = render_film(spec, images, 320, colour)
png, pdf = write_film(pixels, Path(sys.argv[1]), "film", 320)
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "peak_mb": peak_mb(), "before_mb": before,
    "shape": list(pixels.shape), "png": png.stat().st_size, "pdf": pdf.stat().st_size}))
"""


@pytest.mark.parametrize("kind", ["grey", "colour"])
def test_a_17_by_17_inch_film_at_320_dpi_renders_under_400_mb(tmp_path: Path,
                                                               kind: str) -> None:
    result = subprocess.run([sys.executable, "-c", RENDER, str(tmp_path), kind],
                            capture_output=True, text=True, timeout=600, check=True)
    figures = json.loads(result.stdout)
    print(f"17x17 in {kind}: {figures}")
    assert figures["shape"][:2] == [5440, 5440]
    assert figures["peak_mb"] < 400
