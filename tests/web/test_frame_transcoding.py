"""WADO-RS frames in another transfer syntax when the Accept header asks for one: decoded
and encoded again (losslessly where the target is lossless), through dicomweb-client; a
syntax the pixels cannot take is a clear 406."""

from __future__ import annotations

from pathlib import Path

import imagecodecs
import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.encaps import generate_frames

from slidepacs.testing.slides import SlideSpec, make_svs
from slidepacs.wsi.convert import Target, convert
from slidepacs.wsi.to_dicom import DicomOptions
from tests.web.conftest import Web

EXPLICIT_LE = "1.2.840.10008.1.2.1"
JPEG_LS = "1.2.840.10008.1.2.4.80"
JPEG_2000 = "1.2.840.10008.1.2.4.90"


@pytest.fixture(scope="module")
def level_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The base level of a generated slide: JPEG Baseline tiles."""
    folder = tmp_path_factory.mktemp("wsi")
    svs = make_svs(folder / "slide.svs", SlideSpec(width=700, height=500, tile=256))
    paths = convert(svs, folder / "dicom", Target.DICOM, DicomOptions())
    headers = {path: pydicom.dcmread(path, stop_before_pixels=True) for path in paths}
    levels = [path for path, ds in headers.items() if "VOLUME" in ds.ImageType]
    return max(levels, key=lambda path: int(headers[path].TotalPixelMatrixColumns))


def _frames_url(ds: pydicom.Dataset, frames: str) -> str:
    return (f"/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}"
            f"/instances/{ds.SOPInstanceUID}/frames/{frames}")


def _stored_frames(ds: pydicom.Dataset) -> list[bytes]:
    return list(generate_frames(ds.PixelData, number_of_frames=int(ds.NumberOfFrames)))


def test_jpeg_tiles_asked_as_uncompressed_come_back_as_their_decoded_pixels(
    web: Web, level_path: Path
) -> None:
    web.app.ingest.ingest_file(level_path)
    level = pydicom.dcmread(level_path)
    stored = _stored_frames(level)
    frames = web.dicomweb().retrieve_instance_frames(
        level.StudyInstanceUID, level.SeriesInstanceUID, level.SOPInstanceUID, [2, 1],
        media_types=(("application/octet-stream", EXPLICIT_LE),))
    for served, tile in zip(frames, (stored[1], stored[0])):
        assert bytes(served) == imagecodecs.jpeg8_decode(tile).tobytes()
        assert len(served) == level.Rows * level.Columns * 3
    plain = web.http.get(_frames_url(level, "1"),
                         headers={"Accept": 'multipart/related; type="application/octet-stream"'})
    assert plain.status_code == 200
    assert f"transfer-syntax={EXPLICIT_LE}" in plain.content[:400].decode("latin-1")


def test_jpeg_tiles_asked_as_jpeg_2000_are_lossless_copies_of_the_decoded_tile(
    web: Web, level_path: Path
) -> None:
    web.app.ingest.ingest_file(level_path)
    level = pydicom.dcmread(level_path)
    answer = web.http.get(_frames_url(level, "3"), headers={"Accept": "image/jp2"})
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "image/jp2"
    decoded = imagecodecs.jpeg2k_decode(answer.content)
    assert np.array_equal(decoded, imagecodecs.jpeg8_decode(_stored_frames(level)[2]))
    as_stored = web.http.get(_frames_url(level, "3"), headers={"Accept": "image/jpeg"})
    assert as_stored.content == _stored_frames(level)[2]
    assert as_stored.headers["etag"] != answer.headers["etag"]


def test_a_16_bit_ct_frame_goes_out_as_jpeg_ls_lossless(web: Web) -> None:
    ct = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    web.dicomweb().store_instances([ct])
    [frame] = web.dicomweb().retrieve_instance_frames(
        ct.StudyInstanceUID, ct.SeriesInstanceUID, ct.SOPInstanceUID, [1],
        media_types=(("image/jls", JPEG_LS),))
    assert ct.PixelRepresentation == 1  # signed: JPEG-LS carries the bit patterns
    decoded = imagecodecs.jpegls_decode(bytes(frame)).view(np.int16)
    assert np.array_equal(decoded, ct.pixel_array)


def test_a_compressed_radiology_frame_asked_as_uncompressed_is_its_pixel_values(
    web: Web
) -> None:
    mr = pydicom.dcmread(get_testdata_file("emri_small_jpeg_ls_lossless.dcm"))
    web.dicomweb().store_instances([mr])
    stored = _stored_frames(mr)
    frames = web.dicomweb().retrieve_instance_frames(
        mr.StudyInstanceUID, mr.SeriesInstanceUID, mr.SOPInstanceUID, [1, 4],
        media_types=(("application/octet-stream", EXPLICIT_LE),))
    for served, tile in zip(frames, (stored[0], stored[3])):
        expected = imagecodecs.jpegls_decode(tile).astype("<u2")
        assert bytes(served) == expected.tobytes()


def test_syntaxes_the_pixels_cannot_take_get_406_and_name_why(web: Web) -> None:
    ct = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    web.dicomweb().store_instances([ct])
    url = _frames_url(ct, "1")
    sixteen_bits = web.http.get(url, headers={"Accept": "image/jpeg"})
    assert sixteen_bits.status_code == 406
    assert "8-bit" in sixteen_bits.json()["detail"]
    assert web.http.get(url, headers={"Accept": "image/gif"}).status_code == 406
    unknown = 'multipart/related; type="image/jp2"; transfer-syntax=1.2.840.10008.1.2.4.50'
    assert web.http.get(url, headers={"Accept": unknown}).status_code == 406
    several = web.http.get(_frames_url(ct, "1,1"), headers={"Accept": "image/jp2"})
    assert several.status_code == 406  # several frames need multipart/related
