"""Generated slides shared by the whole-slide tests (small: a few hundred KB each)."""

from __future__ import annotations

from pathlib import Path

import pytest

from slidepacs.testing.slides import SlideSpec, make_svs
from slidepacs.wsi.model import Codec

SPECS = {
    "ycbcr": SlideSpec(),
    "rgb": SlideSpec(rgb_jpeg=True),
    "j2k": SlideSpec(codec=Codec.JPEG2000, quality=30),
    "odd": SlideSpec(width=2000, height=1100, tile=240, downsamples=(1, 4, 16)),
}


@pytest.fixture(scope="session")
def slides(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One SVS per flavour: YCbCr JPEG, RGB JPEG without colour marker (Aperio GT450
    style), JPEG 2000, and odd sizes with 240-pixel tiles and partial edge tiles."""
    folder = tmp_path_factory.mktemp("svs")
    return {name: make_svs(folder / f"{name}.svs", spec) for name, spec in SPECS.items()}


@pytest.fixture(scope="session")
def base_only_svs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A slide with only its base level (2500 × 1300, so halving meets odd sizes)."""
    spec = SlideSpec(width=2500, height=1300, downsamples=(1,))
    return make_svs(tmp_path_factory.mktemp("base") / "base.svs", spec)


@pytest.fixture(scope="session")
def holey_svs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A slide whose base level lacks three tiles (byte count 0 in the TIFF)."""
    spec = SlideSpec(missing=frozenset({(0, 0), (3, 2), (7, 5)}))
    return make_svs(tmp_path_factory.mktemp("holey") / "holey.svs", spec)
