"""Pyramid completion: missing levels derived by halving, streamed, marked DERIVED."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest

from slidepacs.testing.slides import SlideSpec, make_svs
from slidepacs.wsi import codec as frame_codec
from slidepacs.wsi.convert import Target, convert
from slidepacs.wsi.model import Codec, Level
from slidepacs.wsi.pyramid import halve, missing_below
from slidepacs.wsi.to_dicom import DicomOptions
from tests.wsi.support import dciodvfy, region, summary, tiled_pages


def _level(width: int, height: int, downsample: float = 1.0) -> Level:
    return Level(width, height, 256, 256, Codec.JPEG, "YBR_FULL_422", downsample)


def test_halve_averages_two_by_two_and_repeats_an_odd_edge() -> None:
    pixels = np.array([[[0] * 3, [4] * 3, [9] * 3],
                       [[8] * 3, [4] * 3, [9] * 3],
                       [[1] * 3, [1] * 3, [5] * 3]], np.uint8)
    halved = halve(pixels)
    assert halved.shape == (2, 2, 3)
    assert halved[:, :, 0].tolist() == [[4, 9], [1, 5]]


def test_missing_below_halves_until_one_tile_for_a_base_only_slide() -> None:
    chain = missing_below(_level(2500, 1300), [1.0])
    assert [(lvl.px_width, lvl.px_height) for lvl in chain] == [
        (1250, 650), (625, 325), (313, 163), (157, 82)]
    assert all(lvl.derived for lvl in chain)


def test_missing_below_stops_at_the_next_existing_level() -> None:
    assert [lvl.downsample for lvl in missing_below(_level(8192, 8192), [1.0, 4.0, 16.0])] == [2.0]
    assert missing_below(_level(1024, 1024, 4.0), [1.0, 4.0]) != []


def test_base_only_slide_gets_a_full_derived_pyramid(base_only_svs: Path, tmp_path: Path) -> None:
    convert(base_only_svs, tmp_path / "dicom", Target.DICOM, DicomOptions(jpeg_quality=90))
    levels, _, _ = summary(tmp_path / "dicom" / "level-0.dcm")
    assert levels == ((2500, 1300), (1250, 650), (625, 325), (313, 163), (157, 82))
    base = pydicom.dcmread(tmp_path / "dicom" / "level-0.dcm", stop_before_pixels=True)
    assert list(base.ImageType) == ["ORIGINAL", "PRIMARY", "VOLUME", "NONE"]
    for index in range(1, 5):
        ds = pydicom.dcmread(tmp_path / "dicom" / f"level-{index}.dcm", stop_before_pixels=True)
        assert list(ds.ImageType) == ["DERIVED", "PRIMARY", "VOLUME", "RESAMPLED"]
        assert "quality 90" in ds.DerivationDescription
        spacing = ds.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0].PixelSpacing
        assert float(spacing[0]) == pytest.approx(0.00025 * 2 ** index)
        assert ds.FrameOfReferenceUID == base.FrameOfReferenceUID
        assert dciodvfy(tmp_path / "dicom" / f"level-{index}.dcm").errors == []


@pytest.mark.parametrize("level", [1, 2, 4])
def test_derived_levels_look_like_the_base_level_halved(
    base_only_svs: Path, tmp_path: Path, level: int
) -> None:
    convert(base_only_svs, tmp_path / "dicom", Target.DICOM, DicomOptions(jpeg_quality=90))
    width, height = summary(tmp_path / "dicom" / "level-0.dcm")[0][level]
    derived = region(tmp_path / "dicom" / "level-0.dcm", (0, 0), level, (width, height))
    expected = region(base_only_svs, (0, 0), 0, (2500, 1300))[..., :3]
    for _ in range(level):
        expected = halve(expected)
    expected = expected[:height, :width]
    difference = derived[..., :3].astype(int) - expected
    shifted = derived[:, 1:, :3].astype(int) - expected[:, :-1]
    # as close as a JPEG at quality 90 of the exact halving is to it
    reencoded = frame_codec.decode(frame_codec.encode(np.ascontiguousarray(expected), Codec.JPEG,
                                                      "YBR_FULL_422", 90), Codec.JPEG, "")
    jpeg_error = np.abs(reencoded.astype(int) - expected).mean()
    assert np.abs(difference).mean() < jpeg_error * 1.1 + 0.2
    assert abs(difference.mean()) < 0.5  # no colour or brightness bias
    assert np.abs(difference).mean() < np.abs(shifted).mean() / 2  # aligned to the pixel
    assert derived[..., :3].std() > 10


def test_completion_can_be_switched_off_and_on(slides: dict[str, Path], base_only_svs: Path,
                                               tmp_path: Path) -> None:
    convert(base_only_svs, tmp_path / "kept", Target.DICOM, DicomOptions(complete_pyramid=False))
    assert len(summary(tmp_path / "kept" / "level-0.dcm")[0]) == 1
    convert(slides["ycbcr"], tmp_path / "gaps", Target.DICOM, DicomOptions(complete_pyramid=True))
    assert summary(tmp_path / "gaps" / "level-0.dcm")[0] == ((2048, 1536), (1024, 768), (512, 384),
                                                            (256, 192))


def test_completed_pyramid_converts_to_svs_with_every_level(base_only_svs: Path,
                                                            tmp_path: Path) -> None:
    convert(base_only_svs, tmp_path / "dicom", Target.DICOM, DicomOptions())
    convert(tmp_path / "dicom", tmp_path / "full.svs", Target.SVS, DicomOptions())
    assert [p.shape[:2] for p in tiled_pages(tmp_path / "full.svs")] == [
        (1300, 2500), (650, 1250), (325, 625), (163, 313), (82, 157)]
    assert summary(tmp_path / "full.svs")[0] == summary(tmp_path / "dicom" / "level-0.dcm")[0]


def test_sparse_completion_writes_positions_for_derived_levels(tmp_path: Path) -> None:
    svs = make_svs(tmp_path / "b.svs", SlideSpec(width=1100, height=700, downsamples=(1,),
                                                 missing=frozenset({(1, 1)})))
    convert(svs, tmp_path / "dicom", Target.DICOM, DicomOptions(sparse=True))
    derived = pydicom.dcmread(tmp_path / "dicom" / "level-1.dcm")
    assert derived.DimensionOrganizationType == "TILED_SPARSE"
    assert len(derived.PerFrameFunctionalGroupsSequence) == int(derived.NumberOfFrames) == 6
    assert dciodvfy(tmp_path / "dicom" / "level-1.dcm").errors == []
