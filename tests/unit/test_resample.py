"""The resampler of rendered images: fed tile by tile it gives what Pillow's BILINEAR resize
gives for the whole region (within one level of rounding), a 1:1 region unchanged, and the
background beyond the image."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from slidepacs.domain.rendering import Region
from slidepacs.imaging.resample import Resampler

WIDTH, HEIGHT = 700, 500


def _picture() -> np.ndarray:
    rows, columns = np.mgrid[0:HEIGHT, 0:WIDTH]
    return np.stack([np.sin(columns / 17) * 120 + 128, np.cos(rows / 11) * 120 + 128,
                     (columns * 3 + rows) % 256], axis=-1).astype(np.uint8)


def _tiled(picture: np.ndarray, region: Region, size: tuple[int, int], tile: int) -> np.ndarray:
    resampler = Resampler(region, (WIDTH, HEIGHT), size, 3, 255)
    for y in range(0, HEIGHT, tile):
        for x in range(0, WIDTH, tile):
            resampler.add(picture[y:y + tile, x:x + tile], x, y)
        resampler.advance(y + tile)
    return resampler.result()


@pytest.mark.parametrize("region, size, tile", [
    (Region(0, 0, WIDTH, HEIGHT), (175, 125), 128),      # 4:1
    (Region(33, 21, 512, 300), (300, 176), 100),         # fractional, tiles not aligned
    (Region(0, 0, WIDTH, HEIGHT), (9, 7), 64),           # far smaller: wide kernels
    (Region(200, 100, 40, 30), (400, 300), 256),         # enlarged 10 times
])
def test_tile_by_tile_matches_pillow_on_the_whole_region(region: Region, size: tuple[int, int],
                                                         tile: int) -> None:
    picture = _picture()
    crop = picture[region.y:region.bottom, region.x:region.right]
    expected = np.asarray(Image.fromarray(crop).resize(size, Image.BILINEAR)).astype(int)
    assert np.abs(_tiled(picture, region, size, tile).astype(int) - expected).max() <= 1


def test_a_one_to_one_region_is_copied_and_the_outside_is_background() -> None:
    picture = _picture()
    inside = _tiled(picture, Region(600, 450, 100, 50), (100, 50), 64)
    assert np.array_equal(inside, picture[450:, 600:])
    beyond = _tiled(picture, Region(650, 400, 100, 200), (100, 200), 64)
    assert np.array_equal(beyond[:100, :50], picture[400:, 650:])
    assert (beyond[100:] == 255).all() and (beyond[:, 50:] == 255).all()
    scaled = _tiled(picture, Region(650, 400, 100, 200), (50, 100), 64)
    assert (scaled[50:] == 255).all() and (scaled[:, 25:] == 255).all()
