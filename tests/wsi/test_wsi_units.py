"""Pure pieces: JPEG stream surgery, the Aperio description, the offset-table writer."""

from __future__ import annotations

import io
import struct

import imagecodecs
import numpy as np
import pytest

from slidepacs.errors import InvalidInput
from slidepacs.wsi import aperio, jpeg
from slidepacs.wsi.frames import EncapsulatedFrames
from slidepacs.wsi.model import SlideMetadata

# The description of a real Aperio ScanScope CS slide (OpenSlide's CMU-1 test slide)
CMU1 = ("Aperio Image Library v10.0.51\r\n46920x33014 [0,100 46000x32914] (256x256) JPEG/RGB "
        "Q=30|AppMag = 20|StripeWidth = 2040|ScanScope ID = CPAPERIOCS|Filename = CMU-1|"
        "Date = 12/29/09|Time = 09:59:15|User = b414003d-95c6-48b0-9369-8010ed517ba7|"
        "Parmset = USM Filter|MPP = 0.4990|Left = 25.691574|Top = 23.449873|"
        "LineCameraSkew = -0.000424|LineAreaXOffset = 0.019265|LineAreaYOffset = -0.000313|"
        "Focus Offset = 0.000000|ImageID = 1004486|OriginalWidth = 46920|"
        "Originalheight = 33014|Filtered = 5|OriginalWidth = 46000|OriginalHeight = 32914")


def _jpeg(colour: str = "ycbcr") -> bytes:
    pixels = np.random.default_rng(1).integers(0, 255, (32, 48, 3), dtype=np.uint8)
    return bytes(imagecodecs.jpeg8_encode(pixels, level=80, outcolorspace=colour))


def test_aperio_description_gives_mpp_magnification_origin_and_every_field() -> None:
    meta = aperio.metadata_from(CMU1, None)
    assert (meta.mpp, meta.objective_power, meta.jpeg_quality) == (0.499, 20.0, 30)
    assert meta.origin_mm == (25.691574, 23.449873)
    assert meta.acquired == "20091229095915"
    assert meta.scanner_serial == "CPAPERIOCS" and meta.image_id == "1004486"
    assert meta.properties["Parmset"] == "USM Filter"
    assert meta.properties["LineCameraSkew"] == "-0.000424"


def test_written_description_parses_back_to_the_same_metadata() -> None:
    meta = aperio.metadata_from(CMU1, None)
    text = aperio.level_description(meta, (46000, 32914), (46000, 32914), (256, 256), "JPEG/RGB")
    assert aperio.is_aperio(text)
    again = aperio.metadata_from(text, None)
    assert (again.mpp, again.objective_power, again.origin_mm, again.acquired) == \
        (meta.mpp, meta.objective_power, meta.origin_mm, meta.acquired)
    lower = aperio.level_description(meta, (46000, 32914), (11500, 8228), (256, 256), "JPEG/RGB")
    assert "46000x32914 -> 11500x8228" in lower and "|" not in lower


def test_merge_then_split_tables_gives_back_the_abbreviated_tile() -> None:
    full = _jpeg()
    tables = jpeg.table_prefix(jpeg.SOI + full[full.index(b"\xff\xdb"):])
    assert tables.startswith(jpeg.SOI + b"\xff\xdb") and tables.endswith(jpeg.EOI)
    tile = jpeg.SOI + b"\xff\xc0" + b"rest-of-stream"
    merged = jpeg.merge_tables(tile, tables)
    assert merged == jpeg.SOI + tables[2:-2] + tile[2:]
    assert jpeg.split_tables(merged, tables) == tile
    assert jpeg.split_tables(full, tables) == full  # other tables: kept whole


def test_colour_markers_are_recognised_added_and_removed() -> None:
    ycbcr, rgb = _jpeg("ycbcr"), _jpeg("rgb")
    assert jpeg.has_colour_marker(ycbcr) and jpeg.has_colour_marker(rgb)  # JFIF / Adobe
    bare = jpeg.SOI + ycbcr[2 + 18:]  # without the JFIF APP0 segment
    assert not jpeg.has_colour_marker(bare)
    marked = jpeg.add_rgb_marker(bare)
    assert jpeg.has_colour_marker(marked) and jpeg.remove_rgb_marker(marked) == bare
    assert rgb[2:2 + len(jpeg.ADOBE_RGB_MARKER)] == jpeg.ADOBE_RGB_MARKER  # what libjpeg writes


def test_luma_sampling_and_padding() -> None:
    pixels = np.zeros((16, 16, 3), np.uint8)
    assert jpeg.luma_sampling(bytes(imagecodecs.jpeg8_encode(
        pixels, outcolorspace="ycbcr", subsampling="422"))) == (2, 1)
    assert jpeg.strip_padding(b"\xff\xd8..\xff\xd9\x00") == b"\xff\xd8..\xff\xd9"
    with pytest.raises(InvalidInput):
        jpeg.luma_sampling(b"not a jpeg")


def test_j2k_photometric_follows_the_multi_component_transform() -> None:
    pixels = np.zeros((16, 16, 3), np.uint8)
    with_mct = bytes(imagecodecs.jpeg2k_encode(pixels, level=30, codecformat="j2k"))
    without = bytes(imagecodecs.jpeg2k_encode(pixels, level=30, codecformat="j2k", mct=False))
    assert jpeg.j2k_photometric(with_mct, False) == "YBR_ICT"
    assert jpeg.j2k_photometric(without, False) == "RGB"
    assert jpeg.j2k_photometric(without, True) == "YBR_FULL"


@pytest.mark.parametrize("extended", [False, True])
def test_encapsulated_frames_pad_and_fill_the_offset_table(extended: bool) -> None:
    out = io.BytesIO()
    writer = EncapsulatedFrames(out, 3, extended)
    for frame in (b"abc", b"defg", b"h"):
        writer.add(frame)
    writer.finish()
    data = out.getvalue()
    assert data.endswith(b"\xfe\xff\xdd\xe0\x00\x00\x00\x00")
    items = data[data.index(b"\xe0\x7f\x10\x00"):]
    table_length = struct.unpack_from("<I", items, 16)[0]
    assert table_length == (0 if extended else 12)
    if not extended:
        assert struct.unpack_from("<3I", items, 20) == (0, 12, 24)
    else:
        assert struct.unpack_from("<3Q", data, 12) == (0, 12, 24)
        assert struct.unpack_from("<3Q", data, 12 + 24 + 12) == (4, 4, 2)


def test_encapsulated_frames_refuse_a_wrong_frame_count() -> None:
    writer = EncapsulatedFrames(io.BytesIO(), 2, False)
    writer.add(b"ab")
    with pytest.raises(InvalidInput):
        writer.finish()




def test_hand_encoded_plane_positions_parse_back_with_pydicom() -> None:
    from datetime import datetime

    from pydicom import dcmread
    from pydicom.filebase import DicomBytesIO

    from slidepacs.wsi.dicom_modules import ImageSpec, SeriesContext
    from slidepacs.wsi.plane_positions import per_frame_groups

    ctx = SeriesContext("1.2", "1.3", "1.4", "1.5", "1.6", "C", "S",
                        SlideMetadata(mpp=0.5, origin_mm=(25.5, 60.0)), datetime(2026, 1, 1))
    spec = ImageSpec(None, ("ORIGINAL", "PRIMARY", "VOLUME", "NONE"), 1, (1000, 600), (256, 256),
                     0.0005, "YBR_FULL_422", 2, True, "ISO_10918_1", 10.0)
    encoded = per_frame_groups(ctx, spec, [(0, 0), (3, 2)])
    preamble = b"\x00" * 128 + b"DICM"
    meta = bytes.fromhex("02001000") + b"UI" + struct.pack("<H", 20) + b"1.2.840.10008.1.2.1\x00"
    ds = dcmread(DicomBytesIO(preamble + meta + encoded), force=True)
    first, second = (g.PlanePositionSlideSequence[0] for g in ds.PerFrameFunctionalGroupsSequence)
    assert (first.ColumnPositionInTotalImagePixelMatrix, first.RowPositionInTotalImagePixelMatrix) \
        == (1, 1)
    assert (second.ColumnPositionInTotalImagePixelMatrix,
            second.RowPositionInTotalImagePixelMatrix) == (769, 513)
    assert float(second.XOffsetInSlideCoordinateSystem) == pytest.approx(25.5 - 512 * 0.0005)
    assert float(second.YOffsetInSlideCoordinateSystem) == pytest.approx(60.0 - 768 * 0.0005)
    assert float(second.ZOffsetInSlideCoordinateSystem) == 0
