"""SVS → DICOM WSI → SVS moves every tile byte for byte, in both dimension organisations."""

from __future__ import annotations

import struct
from pathlib import Path

import pydicom
import pytest
from pydicom.encaps import generate_frames

from slidepacs.wsi import jpeg
from slidepacs.wsi.convert import Target, convert
from slidepacs.wsi.to_dicom import DicomOptions
from tests.wsi.support import tiled_pages

FLAVOURS = ["ycbcr", "rgb", "j2k", "odd"]


def _round_trip(svs: Path, tmp_path: Path, options: DicomOptions) -> tuple[Path, Path]:
    dicom = tmp_path / "dicom"
    convert(svs, dicom, Target.DICOM, options)
    back = tmp_path / "back.svs"
    convert(dicom, back, Target.SVS, options)
    return dicom, back


@pytest.mark.parametrize("sparse", [False, True], ids=["full", "sparse"])
@pytest.mark.parametrize("flavour", FLAVOURS)
def test_round_trip_gives_back_identical_tiles_and_tables(
    slides: dict[str, Path], tmp_path: Path, flavour: str, sparse: bool
) -> None:
    _, back = _round_trip(slides[flavour], tmp_path, DicomOptions(sparse=sparse))
    original, returned = tiled_pages(slides[flavour]), tiled_pages(back)
    assert [p.shape for p in returned] == [p.shape for p in original]
    for before, after in zip(original, returned):
        assert after.tables == before.tables
        assert after.tiles == before.tiles


def test_dicom_frames_are_the_svs_tiles_with_their_tables_merged(
    slides: dict[str, Path], tmp_path: Path
) -> None:
    dicom = tmp_path / "dicom"
    convert(slides["ycbcr"], dicom, Target.DICOM, DicomOptions())
    page = tiled_pages(slides["ycbcr"])[0]
    ds = pydicom.dcmread(dicom / "level-0.dcm")
    frames = list(generate_frames(ds.PixelData, number_of_frames=int(ds.NumberOfFrames)))
    assert len(frames) == len(page.tiles)
    for frame, tile in zip(frames, page.tiles):
        assert jpeg.strip_padding(frame) == jpeg.merge_tables(tile, page.tables)
    assert not jpeg.has_colour_marker(page.tiles[0])  # abbreviated Aperio-style tiles


def test_rgb_jpeg_frames_carry_an_adobe_marker_that_the_svs_writer_removes(
    slides: dict[str, Path], tmp_path: Path
) -> None:
    dicom, back = _round_trip(slides["rgb"], tmp_path, DicomOptions())
    ds = pydicom.dcmread(dicom / "level-0.dcm")
    assert ds.PhotometricInterpretation == "RGB"
    first = next(generate_frames(ds.PixelData, number_of_frames=int(ds.NumberOfFrames)))
    assert first.startswith(jpeg.SOI + jpeg.ADOBE_RGB_MARKER)
    assert all(not t.startswith(jpeg.SOI + jpeg.ADOBE_RGB_MARKER)
               for t in tiled_pages(back)[0].tiles)


def _basic_offsets(path: Path) -> tuple[list[int], int]:
    """Basic Offset Table entries and where the first fragment starts, read by hand."""
    with open(path, "rb") as handle:
        pydicom.dcmread(handle, stop_before_pixels=True)
        header = handle.read(20)
        (length,) = struct.unpack_from("<I", header, 16)
        table = handle.read(length)
        return list(struct.unpack(f"<{length // 4}I", table)), handle.tell()


def test_basic_offset_table_points_at_every_frame(slides: dict[str, Path], tmp_path: Path) -> None:
    dicom = tmp_path / "dicom"
    convert(slides["ycbcr"], dicom, Target.DICOM, DicomOptions())
    offsets, first = _basic_offsets(dicom / "level-0.dcm")
    page = tiled_pages(slides["ycbcr"])[0]
    data = (dicom / "level-0.dcm").read_bytes()
    assert len(offsets) == len(page.tiles)
    for offset, tile in zip(offsets, page.tiles):
        tag, length = struct.unpack_from("<II", data, first + offset)
        assert tag == 0xE000FFFE
        frame = data[first + offset + 8:first + offset + 8 + length]
        assert jpeg.strip_padding(frame) == jpeg.merge_tables(tile, page.tables)


def test_extended_offset_table_addresses_frames_and_survives_the_round_trip(
    slides: dict[str, Path], tmp_path: Path
) -> None:
    dicom, back = _round_trip(slides["ycbcr"], tmp_path, DicomOptions(extended_offsets=True))
    ds = pydicom.dcmread(dicom / "level-0.dcm")
    frames = int(ds.NumberOfFrames)
    offsets = struct.unpack(f"<{frames}Q", ds.ExtendedOffsetTable)
    lengths = struct.unpack(f"<{frames}Q", ds.ExtendedOffsetTableLengths)
    assert offsets[0] == 0 and all(b - a == 8 + n for a, b, n in
                                   zip(offsets, offsets[1:], lengths))
    assert _basic_offsets(dicom / "level-0.dcm")[0] == []  # BOT empty with an EOT
    assert tiled_pages(back)[0].tiles == tiled_pages(slides["ycbcr"])[0].tiles


def test_sparse_level_keeps_only_present_tiles_and_svs_gets_the_holes_back(
    holey_svs: Path, tmp_path: Path
) -> None:
    dicom, back = _round_trip(holey_svs, tmp_path, DicomOptions(sparse=True))
    ds = pydicom.dcmread(dicom / "level-0.dcm")
    assert ds.DimensionOrganizationType == "TILED_SPARSE"
    assert int(ds.NumberOfFrames) == 48 - 3
    positions = {(int(g.PlanePositionSlideSequence[0].ColumnPositionInTotalImagePixelMatrix),
                  int(g.PlanePositionSlideSequence[0].RowPositionInTotalImagePixelMatrix))
                 for g in ds.PerFrameFunctionalGroupsSequence}
    assert (1, 1) not in positions and (3 * 256 + 1, 2 * 256 + 1) not in positions
    assert (256 + 1, 1) in positions
    assert tiled_pages(back)[0].tiles == tiled_pages(holey_svs)[0].tiles  # empty ones too


def test_full_level_fills_missing_tiles_with_white_frames(holey_svs: Path, tmp_path: Path) -> None:
    dicom = tmp_path / "dicom"
    convert(holey_svs, dicom, Target.DICOM, DicomOptions(sparse=False))
    ds = pydicom.dcmread(dicom / "level-0.dcm")
    assert ds.DimensionOrganizationType == "TILED_FULL"
    assert int(ds.NumberOfFrames) == 48
    frames = list(generate_frames(ds.PixelData, number_of_frames=48))
    assert frames[0] == frames[3 + 2 * 8] == frames[7 + 5 * 8]
    assert "PerFrameFunctionalGroupsSequence" not in ds


def test_icc_profile_goes_to_the_optical_path_and_back_to_the_svs(tmp_path: Path) -> None:
    import tifffile

    from slidepacs.testing.slides import SlideSpec, make_svs
    from slidepacs.wsi.srgb import SRGB_ICC

    profile = SRGB_ICC[:-4] + b"scan"  # a profile of the scanner's own
    svs = make_svs(tmp_path / "icc.svs", SlideSpec(icc_profile=profile))
    dicom, back = _round_trip(svs, tmp_path, DicomOptions())
    for name in ("level-0.dcm", "level-1.dcm", "label.dcm", "overview.dcm", "thumbnail.dcm"):
        ds = pydicom.dcmread(dicom / name, stop_before_pixels=True)
        assert ds.OpticalPathSequence[0].ICCProfile == profile
    with tifffile.TiffFile(back) as tiff:
        first = tiff.pages.first
        assert first.iccprofile == profile


def test_slide_without_icc_profile_gets_srgb_in_the_optical_path(
    slides: dict[str, Path], tmp_path: Path
) -> None:
    from slidepacs.wsi.srgb import SRGB_ICC

    convert(slides["ycbcr"], tmp_path / "dicom", Target.DICOM, DicomOptions())
    ds = pydicom.dcmread(tmp_path / "dicom" / "level-0.dcm", stop_before_pixels=True)
    path = ds.OpticalPathSequence[0]
    assert path.ICCProfile == SRGB_ICC and path.ObjectiveLensPower == 40
    spacing = ds.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0].PixelSpacing
    assert [float(v) for v in spacing] == [0.00025, 0.00025]
    assert (ds.TotalPixelMatrixColumns, ds.TotalPixelMatrixRows) == (2048, 1536)
    assert (ds.ImagedVolumeWidth, ds.ImagedVolumeHeight) == pytest.approx((0.512, 0.384))
    assert ds.ContainerIdentifier == "S26-04711 A1"  # the barcode, when no slide ID is given
    levels = [pydicom.dcmread(p, stop_before_pixels=True) for p in sorted(
        (tmp_path / "dicom").glob("*.dcm"))]
    assert len({d.FrameOfReferenceUID for d in levels}) == 1
    assert len({d.SeriesInstanceUID for d in levels}) == 1
    assert sorted(d.ImageType[2] for d in levels) == [
        "LABEL", "OVERVIEW", "THUMBNAIL", "VOLUME", "VOLUME"]


def test_svs_written_from_dicom_keeps_the_slide_metadata(slides: dict[str, Path],
                                                         tmp_path: Path) -> None:
    from slidepacs.wsi.svs_reader import SvsSlide

    _, back = _round_trip(slides["ycbcr"], tmp_path, DicomOptions())
    with SvsSlide(slides["ycbcr"]) as before, SvsSlide(back) as after:
        for field in ("mpp", "objective_power", "origin_mm", "acquired", "scanner_serial",
                      "barcode"):
            assert getattr(after.metadata, field) == getattr(before.metadata, field), field
        assert after.levels == before.levels


def test_bigtiff_svs_output_keeps_tiles_and_opens_in_openslide(slides: dict[str, Path],
                                                               tmp_path: Path) -> None:
    import tifffile

    from slidepacs.wsi.dicom_reader import DicomSlide
    from slidepacs.wsi.svs_writer import write_svs
    from tests.wsi.support import summary

    convert(slides["ycbcr"], tmp_path / "dicom", Target.DICOM, DicomOptions())
    with DicomSlide(tmp_path / "dicom") as source:
        write_svs(source, tmp_path / "big.svs", bigtiff=True)
    with tifffile.TiffFile(tmp_path / "big.svs") as tiff:
        assert tiff.is_bigtiff and tiff.is_svs
    assert tiled_pages(tmp_path / "big.svs")[0].tiles == tiled_pages(slides["ycbcr"])[0].tiles
    assert summary(tmp_path / "big.svs")[0] == summary(slides["ycbcr"])[0]


@pytest.mark.parametrize("offset_table", ["bot", "eot", "empty"])
def test_dicom_written_by_wsidicom_converts_back_to_the_original_tiles(
    slides: dict[str, Path], tmp_path: Path, offset_table: str
) -> None:
    from wsidicom import WsiDicom

    convert(slides["ycbcr"], tmp_path / "ours", Target.DICOM, DicomOptions())
    (tmp_path / "theirs").mkdir()
    with WsiDicom.open(tmp_path / "ours") as wsi:
        wsi.save(tmp_path / "theirs", offset_table=offset_table)
    convert(tmp_path / "theirs", tmp_path / "back.svs", Target.SVS, DicomOptions())
    original, returned = tiled_pages(slides["ycbcr"]), tiled_pages(tmp_path / "back.svs")
    assert [p.tiles for p in returned] == [p.tiles for p in original]
    assert [p.tables for p in returned] == [p.tables for p in original]
