"""Frame maps: the walk that proves a file complete also finds where each frame lies
(native frames back to back; encapsulated fragments one per frame, grouped by the Basic
Offset Table, or all in one frame), and the packed map reads back the same bytes."""

from __future__ import annotations

import time
from array import array
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import FileMetaDataset
from pydicom.encaps import encapsulate, generate_frames
from pydicom.uid import (
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEGBaseline8Bit,
    RLELossless,
    generate_uid,
)

from slidepacs.dicom.frames import FrameGeometry, FrameMap, frame_map
from slidepacs.dicom.header import read_frame_map, read_header
from slidepacs.dicom.layout import PixelLayout
from slidepacs.errors import InvalidInput
from slidepacs.testing.generators import PatientSpec, ct_dataset

NATIVE_ENCODINGS = [ImplicitVRLittleEndian, ExplicitVRLittleEndian, ExplicitVRBigEndian]


def native_file(path: Path, frames: int | None, transfer_syntax: str = ExplicitVRLittleEndian,
                bits: int = 16, samples: int = 1) -> tuple[Path, list[bytes]]:
    """A native image of ``frames`` frames (None: no Number of Frames) and its frames' bytes."""
    ds = ct_dataset(PatientSpec(), generate_uid(), generate_uid(), 1, size=8)
    ds.file_meta.TransferSyntaxUID = transfer_syntax
    ds.Rows, ds.Columns, ds.SamplesPerPixel, ds.BitsAllocated = 6, 5, samples, bits
    ds.BitsStored, ds.HighBit = bits, bits - 1
    if samples == 3:
        ds.PhotometricInterpretation, ds.PlanarConfiguration = "RGB", 0
    count = frames or 1
    size = 6 * 5 * samples * bits // 8
    data = np.random.default_rng(count).integers(0, 255, count * size, np.uint8).tobytes()
    if frames is not None:
        ds.NumberOfFrames = frames
    ds.PixelData = data + (b"\x00" if len(data) % 2 else b"")
    ds.save_as(path, implicit_vr=transfer_syntax == ImplicitVRLittleEndian,
               little_endian=transfer_syntax != ExplicitVRBigEndian, enforce_file_format=True)
    return path, [data[i * size:(i + 1) * size] for i in range(count)]


def encapsulated_file(path: Path, frames: list[bytes], number_of_frames: int | None,
                      fragments_per_frame: int = 1, has_bot: bool = True) -> Path:
    """A JPEG-syntax image whose Pixel Data holds ``frames`` split into fragments."""
    ds = ct_dataset(PatientSpec(), generate_uid(), generate_uid(), 1, size=8)
    ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
    ds.Rows = ds.Columns = 16
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 8, 8, 7
    if number_of_frames is not None:
        ds.NumberOfFrames = number_of_frames
    ds.PixelData = encapsulate(frames, fragments_per_frame=fragments_per_frame, has_bot=has_bot)
    ds["PixelData"].VR = "OB"
    ds["PixelData"].is_undefined_length = True
    ds.save_as(path, enforce_file_format=True)
    return path


def fake_frames(count: int, length: int = 40) -> list[bytes]:
    return [bytes([index % 256]) * (length + 2 * index) for index in range(count)]


def mapped(path: Path) -> FrameMap | None:
    packed = read_header(path, "ISO_IR 100").frame_map
    return None if packed is None else FrameMap.unpack(packed)


def frames_read(path: Path, frames: FrameMap) -> list[bytes]:
    data = path.read_bytes()
    return [b"".join(data[offset:offset + length] for offset, length in frames.pieces(i))
            for i in range(len(frames))]


@pytest.mark.parametrize("transfer_syntax", NATIVE_ENCODINGS, ids=lambda ts: ts.name)
@pytest.mark.parametrize("number_of_frames", [None, 1, 7])
def test_native_frames_lie_back_to_back_from_the_start_of_pixel_data(
    tmp_path: Path, transfer_syntax: str, number_of_frames: int | None
) -> None:
    path, expected = native_file(tmp_path / "native.dcm", number_of_frames, transfer_syntax)
    frames = mapped(path)
    assert frames is not None and len(frames) == (number_of_frames or 1)
    assert frames_read(path, frames) == expected
    assert all(len(frames.pieces(i)) == 1 for i in range(len(frames)))


def test_odd_sized_native_frames_ignore_the_padding_byte(tmp_path: Path) -> None:
    path, expected = native_file(tmp_path / "odd.dcm", 3, bits=8, samples=3)  # 90 bytes each
    frames = mapped(path)
    assert frames is not None and frames_read(path, frames) == expected


def test_encapsulated_frames_one_fragment_each_with_an_empty_offset_table(tmp_path: Path) -> None:
    frames = fake_frames(5)
    path = encapsulated_file(tmp_path / "jpeg.dcm", frames, 5, has_bot=False)
    found = mapped(path)
    assert found is not None and found.starts is None
    assert frames_read(path, found) == frames


def test_frames_of_several_fragments_are_grouped_by_the_basic_offset_table(
    tmp_path: Path
) -> None:
    frames = fake_frames(4)
    path = encapsulated_file(tmp_path / "jpeg.dcm", frames, 4, fragments_per_frame=3)
    found = mapped(path)
    assert found is not None and len(found) == 4 and len(found.offsets) == 12
    assert [len(found.pieces(i)) for i in range(4)] == [3, 3, 3, 3]
    assert frames_read(path, found) == frames
    ds = pydicom.dcmread(path)
    assert frames_read(path, found) == list(generate_frames(ds.PixelData, number_of_frames=4))


@pytest.mark.parametrize("number_of_frames", [None, 1])
def test_every_fragment_belongs_to_the_single_frame(
    tmp_path: Path, number_of_frames: int | None
) -> None:
    frame = bytes(range(200)) * 3
    path = encapsulated_file(tmp_path / "jpeg.dcm", [frame], number_of_frames,
                             fragments_per_frame=4, has_bot=False)
    found = mapped(path)
    assert found is not None and len(found) == 1 and len(found.pieces(0)) == 4
    assert frames_read(path, found) == [frame]


def test_fragments_without_an_offset_table_to_group_them_give_no_map(tmp_path: Path) -> None:
    path = encapsulated_file(tmp_path / "jpeg.dcm", fake_frames(3), 3, fragments_per_frame=2,
                             has_bot=False)
    assert read_header(path, "ISO_IR 100").frame_map is None


def test_an_offset_table_that_points_between_fragments_gives_no_map() -> None:
    layout = PixelLayout(offset_table=(100, 8), fragment_offsets=array("Q", [108, 158, 208]),
                         fragment_lengths=array("I", [42, 42, 42]))
    geometry = FrameGeometry(2, 16, 16, 1, 8)
    assert frame_map(layout, geometry, [0, 50]) is not None
    assert frame_map(layout, geometry, [0, 30]) is None   # not the start of a fragment item
    assert frame_map(layout, geometry, [0]) is None       # one entry short
    assert frame_map(layout, geometry, [50, 100]) is None  # the first frame must start at 0
    assert frame_map(layout, geometry) is None            # table not read


def test_single_bit_and_too_short_native_data_give_no_map() -> None:
    value = PixelLayout(value=(1000, 60))
    assert frame_map(value, FrameGeometry(2, 6, 5, 1, 8)) is not None
    assert frame_map(value, FrameGeometry(3, 6, 5, 1, 8)) is None    # needs 90 bytes
    assert frame_map(value, FrameGeometry(8, 6, 5, 1, 1)) is None    # single-bit frames
    assert frame_map(value, FrameGeometry(1, None, 5, 1, 8)) is None  # no Rows


def test_native_ybr_full_422_frames_hold_two_samples_a_pixel() -> None:
    frames = frame_map(PixelLayout(value=(0, 120)), FrameGeometry(2, 6, 5, 3, 8, "YBR_FULL_422"))
    assert frames is not None and frames.frame_ranges() == [[(0, 60)], [(60, 60)]]


def test_an_instance_without_pixel_data_has_zero_frames(tmp_path: Path) -> None:
    ds = ct_dataset(PatientSpec(), generate_uid(), generate_uid(), 1, size=8)
    del ds.PixelData
    ds.save_as(tmp_path / "none.dcm", enforce_file_format=True)
    found = mapped(tmp_path / "none.dcm")
    assert found is not None and len(found) == 0


def test_a_bare_data_set_maps_frames_in_the_stored_file_after_its_new_file_meta(
    tmp_path: Path
) -> None:
    path, expected = native_file(tmp_path / "native.dcm", 3)
    ds = pydicom.dcmread(path)
    ds.file_meta, ds.preamble = FileMetaDataset(), None
    bare = tmp_path / "bare.dcm"
    ds.save_as(bare, implicit_vr=False, little_endian=True)  # no preamble, no File Meta
    parsed = read_header(bare, "ISO_IR 100")
    assert parsed.prefix and parsed.frame_map is not None
    stored = tmp_path / "stored.dcm"
    stored.write_bytes(parsed.prefix + bare.read_bytes()[parsed.dataset_offset:])
    assert frames_read(stored, FrameMap.unpack(parsed.frame_map)) == expected
    assert read_frame_map(stored) == parsed.frame_map


def test_rle_frames_of_pydicoms_test_file_match_pydicom(tmp_path: Path) -> None:
    from pydicom.data import get_testdata_file

    path = Path(get_testdata_file("SC_rgb_rle_2frame.dcm"))
    ds = pydicom.dcmread(path)
    assert ds.file_meta.TransferSyntaxUID == RLELossless
    found = mapped(path)
    assert found is not None
    assert frames_read(path, found) == list(generate_frames(ds.PixelData, number_of_frames=2))


@pytest.mark.parametrize("kind", ["native", "encapsulated"])
def test_a_file_cut_inside_pixel_data_is_still_refused(tmp_path: Path, kind: str) -> None:
    if kind == "native":
        path, _ = native_file(tmp_path / "whole.dcm", 4)
    else:
        path = encapsulated_file(tmp_path / "whole.dcm", fake_frames(4), 4)
    cut = tmp_path / "cut.dcm"
    cut.write_bytes(path.read_bytes()[:-30])
    with pytest.raises(InvalidInput, match="truncated"):
        read_header(cut, "ISO_IR 100")
    with pytest.raises(InvalidInput, match="truncated"):
        read_frame_map(cut)


def test_packed_map_round_trips_and_garbage_is_refused() -> None:
    grouped = FrameMap(array("Q", [10, 30, 70]), array("I", [12, 32, 8]), array("I", [0, 2]))
    again = FrameMap.unpack(grouped.pack())
    assert again.frame_ranges() == [[(10, 12), (30, 32)], [(70, 8)]]
    single = FrameMap(array("Q", [5, 2**40]), array("I", [7, 2**32 - 1]))
    assert FrameMap.unpack(single.pack()).frame_ranges() == [[(5, 7)], [(2**40, 2**32 - 1)]]
    for garbage in (b"", b"\x02" + grouped.pack()[1:], grouped.pack()[:-1]):
        with pytest.raises(InvalidInput):
            FrameMap.unpack(garbage)
    with pytest.raises(IndexError):
        single.pieces(2)


def test_a_100000_frame_map_packs_to_about_a_megabyte_and_unpacks_in_a_millisecond() -> None:
    count = 100_000
    offsets = array("Q", range(1 << 20, (1 << 20) + count * 40_000, 40_000))
    layout = PixelLayout(offset_table=(1000, 4 * count), fragment_offsets=offsets,
                         fragment_lengths=array("I", [39_992]) * count)
    packed = frame_map(layout, FrameGeometry(count, 256, 256, 3, 8)).pack()  # type: ignore
    assert len(packed) == 10 + 12 * count
    started = time.perf_counter()
    frames = FrameMap.unpack(packed)
    assert time.perf_counter() - started < 0.05  # ~0.1 ms here; generous for a busy machine
    assert len(frames) == count and frames.pieces(count - 1) == ((offsets[-1], 39_992),)


def test_the_map_cache_drops_the_least_recently_used_maps_beyond_its_bounds() -> None:
    from slidepacs.services.frames import MapCache

    def sized(pieces: int) -> FrameMap:
        return FrameMap(array("Q", range(pieces)), array("I", [1]) * pieces)

    cache = MapCache(entries=2, size=1000)
    cache.put("a", sized(10))
    cache.put("b", None)
    assert cache.get("a")[0]  # now the most recently used
    cache.put("c", sized(10))
    assert [cache.get(k)[0] for k in "abc"] == [True, False, True]
    cache.put("d", sized(80))  # 960 bytes: the others must go
    assert [cache.get(k)[0] for k in "acd"] == [False, False, True]


UNMAPPED_IN_CORPUS = {  # single-bit segmentations, and a deflated file (never walked)
    "liver.dcm", "liver_1frame.dcm", "liver_expb.dcm", "liver_expb_1frame.dcm", "image_dfl.dcm",
}


def pydicom_frames(ds: pydicom.Dataset, transfer_syntax: str) -> list[bytes] | None:
    """The frames pydicom extracts; None for a file without pixel data."""
    keyword = next((k for k in ("PixelData", "FloatPixelData", "DoubleFloatPixelData")
                    if k in ds), None)
    if keyword is None:
        return None
    data, count = ds[keyword].value, int(str(ds.get("NumberOfFrames") or 1).strip("A") or 1)
    if pydicom.uid.UID(transfer_syntax).is_encapsulated:
        return list(generate_frames(data, number_of_frames=count))
    size = ds.Rows * ds.Columns * ds.get("SamplesPerPixel", 1) * ds.BitsAllocated // 8
    if ds.get("PhotometricInterpretation") == "YBR_FULL_422":
        size = size // 3 * 2
    return [data[i * size:(i + 1) * size] for i in range(count)]


def test_frames_of_every_file_of_pydicoms_corpora_are_what_pydicom_extracts() -> None:
    import warnings

    from tests.media import pydicom_data_folder, pydicom_test_files

    files = sorted(p for root in (pydicom_data_folder(), pydicom_test_files())
                   for p in root.rglob("*") if p.is_file())
    compared, unmapped = 0, set()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for path in files:
            try:
                parsed = read_header(path, "ISO_IR 100")
            except InvalidInput:
                continue
            if parsed.frame_map is None:
                unmapped.add(path.name)
                continue
            data = parsed.prefix + path.read_bytes()[parsed.dataset_offset:]
            frames = FrameMap.unpack(parsed.frame_map)
            ours = [b"".join(data[o:o + n] for o, n in frames.pieces(i))
                    for i in range(len(frames))]
            expected = pydicom_frames(pydicom.dcmread(path, force=True),
                                      parsed.header.instance.transfer_syntax_uid)
            assert ours == (expected or []), path.name
            compared += expected is not None
    assert unmapped == UNMAPPED_IN_CORPUS
    assert compared > 140  # native and encapsulated, in every transfer syntax pydicom ships
