"""WADO-RS rendered and thumbnail resources: radiology frames come back as the 8-bit image
the VOI formulas of PS3.3 C.11.2.1.2 give (computed here from pydicom's pixel_array), slide
regions as OpenSlide reads the SVS they were converted from, thumbnails small, bad requests
as clear 400 / 404 / 406, and every answer cacheable with an ETag."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import openslide
import pydicom
import pytest
from PIL import Image
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.pixels import apply_color_lut, apply_voi
from pydicom.uid import generate_uid

import slidepacs.domain.rendering as rendering
from slidepacs.testing.generators import write_ct_series
from slidepacs.testing.slides import SlideSpec, make_svs
from slidepacs.wsi.convert import Target, convert
from slidepacs.wsi.to_dicom import DicomOptions
from tests.web.conftest import Web

PNG = ("image/png",)
MISSING_TILE = (5, 3)  # a base-level tile the generated slide lacks (rendered as glass)


# ---------------------------------------------------------------- radiology: expected pixels

def _copy(tmp_path: Path, name: str) -> Dataset:
    """A pydicom test file with its own SOP and series UIDs (several share them)."""
    dataset = pydicom.dcmread(get_testdata_file(name))
    dataset.SOPInstanceUID = dataset.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    dataset.SeriesInstanceUID = generate_uid()
    dataset.save_as(tmp_path / f"{name}", enforce_file_format=True)
    return pydicom.dcmread(tmp_path / f"{name}")


def _ingest(web: Web, *datasets: Dataset) -> None:
    for dataset in datasets:
        web.app.ingest.ingest_file(Path(dataset.filename))


def _window_formula(x: np.ndarray, center: float, width: float, function: str) -> np.ndarray:
    """PS3.3 C.11.2.1.2 onto 0..255, written out independently of slidepacs."""
    if function == "linear-exact":
        y = np.where(x <= center - width / 2, 0.0,
                     np.where(x > center + width / 2, 1.0, (x - center) / width + 0.5))
    elif function == "sigmoid":
        y = 1 / (1 + np.exp(-4 * (x - center) / width))
    else:
        low, high = center - 0.5 - (width - 1) / 2, center - 0.5 + (width - 1) / 2
        y = np.where(x <= low, 0.0,
                     np.where(x > high, 1.0, ((x - (center - 0.5)) / (width - 1) + 0.5)))
    return np.rint(y * 255).astype(np.uint8)


def _expected(dataset: Dataset, frame: int = 1, window: tuple[float, float, str] | None = None
              ) -> np.ndarray:
    """The 8-bit display image: Modality LUT, then the window (the request's, the file's
    first, else the frame's minimum to maximum, linear-exact), MONOCHROME1 inverted."""
    pixels = dataset.pixel_array
    if int(dataset.get("NumberOfFrames", 1) or 1) > 1:
        pixels = pixels[frame - 1]
    if dataset.PhotometricInterpretation == "PALETTE COLOR":
        rgb = apply_color_lut(pixels, dataset)  # 16-bit LUT entries onto 0..255
        return np.rint(rgb * (255 / 65535)).astype(np.uint8) if rgb.dtype == np.uint16 else rgb
    if not dataset.PhotometricInterpretation.startswith("MONOCHROME"):
        return pixels.astype(np.uint8)
    x = pixels.astype(np.float64) * float(dataset.get("RescaleSlope", 1)) + float(
        dataset.get("RescaleIntercept", 0))
    if window is None and "WindowCenter" in dataset:
        window = (_first(dataset.WindowCenter), _first(dataset.WindowWidth), "linear")
    if window is None:
        window = ((x.min() + x.max()) / 2, x.max() - x.min(), "linear-exact")
    grey = _window_formula(x, *window)
    return 255 - grey if dataset.PhotometricInterpretation == "MONOCHROME1" else grey


def _first(value: Any) -> float:
    return float(value[0] if isinstance(value, MultiValue) else value)


def _image(body: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(body)))


def _path(dataset: Dataset) -> str:
    return (f"/studies/{dataset.StudyInstanceUID}/series/{dataset.SeriesInstanceUID}"
            f"/instances/{dataset.SOPInstanceUID}")


@pytest.mark.parametrize("name", ["CT_small.dcm", "MR_small.dcm", "SC_rgb.dcm",
                                  "US1_J2KR.dcm", "MR-SIEMENS-DICOM-WithOverlays.dcm",
                                  "OBXXXX1A.dcm", "rtdose.dcm"])
def test_a_rendered_png_is_the_windowed_image(web: Web, tmp_path: Path, name: str) -> None:
    dataset = _copy(tmp_path, name)
    _ingest(web, dataset)
    body = web.dicomweb().retrieve_instance_rendered(
        dataset.StudyInstanceUID, dataset.SeriesInstanceUID, dataset.SOPInstanceUID,
        media_types=PNG)
    assert body[:8] == b"\x89PNG\r\n\x1a\n"
    assert np.array_equal(_image(body), _expected(dataset))


def test_a_rendered_frame_is_that_frame(web: Web, tmp_path: Path) -> None:
    dataset = _copy(tmp_path, "emri_small.dcm")
    _ingest(web, dataset)
    client = web.dicomweb()
    for frame in (1, 7):
        body = client.retrieve_instance_frames_rendered(
            dataset.StudyInstanceUID, dataset.SeriesInstanceUID, dataset.SOPInstanceUID,
            [frame], media_types=PNG)
        assert np.array_equal(_image(body), _expected(dataset, frame))
    first = client.retrieve_instance_rendered(
        dataset.StudyInstanceUID, dataset.SeriesInstanceUID, dataset.SOPInstanceUID,
        media_types=PNG)
    assert np.array_equal(_image(first), _expected(dataset, 1))  # the instance: frame 1


def test_the_window_parameter_follows_the_voi_formulas(web: Web, tmp_path: Path) -> None:
    dataset = _copy(tmp_path, "CT_small.dcm")
    _ingest(web, dataset)
    client = web.dicomweb()
    results = []
    for text, window in [("40,400", (40, 400, "linear")),
                         ("40,400,linear-exact", (40, 400, "linear-exact")),
                         ("-100,50.5,SIGMOID", (-100, 50.5, "sigmoid")),
                         ("0,1", (0, 1, "linear"))]:
        body = client.retrieve_instance_rendered(
            dataset.StudyInstanceUID, dataset.SeriesInstanceUID, dataset.SOPInstanceUID,
            media_types=PNG, params={"window": text})
        rendered = _image(body)
        if window[1] > 1:
            assert np.array_equal(rendered, _expected(dataset, window=window))
        else:  # width 1: a threshold at the centre
            values = dataset.pixel_array.astype(float) + float(dataset.RescaleIntercept)
            assert np.array_equal(rendered, np.where(values > -0.5, 255, 0))
        results.append(rendered)
    assert not np.array_equal(results[0], results[2])


def test_a_voi_lut_sequence_is_applied_when_no_window_is_given(web: Web,
                                                                tmp_path: Path) -> None:
    dataset = _copy(tmp_path, "vlut_04.dcm")
    _ingest(web, dataset)
    answer = web.http.get(_path(dataset) + "/rendered", headers={"Accept": "image/png"})
    bits = int(dataset.VOILUTSequence[0].LUTDescriptor[2])
    through_lut = apply_voi(dataset.pixel_array, dataset)
    expected = np.rint(through_lut * (255 / (2 ** bits - 1))).astype(np.uint8)
    assert np.array_equal(_image(answer.content), expected)


@pytest.mark.parametrize("original, variants", [
    ("MR_small.dcm", ["MR_small_RLE.dcm", "MR_small_jpeg_ls_lossless.dcm",
                      "MR_small_jp2klossless.dcm"]),
    ("SC_rgb.dcm", ["SC_rgb_rle.dcm", "SC_rgb_jpeg_gdcm.dcm"]),
])
def test_losslessly_compressed_copies_render_the_same(web: Web, tmp_path: Path, original: str,
                                                      variants: list[str]) -> None:
    # JPEG-LS and lossless JPEG have no pydicom decoder here: imagecodecs decodes them
    datasets = [_copy(tmp_path, name) for name in [original, *variants]]
    _ingest(web, *datasets)
    bodies = [web.http.get(_path(d) + "/rendered", headers={"Accept": "image/png"})
              for d in datasets]
    assert [b.status_code for b in bodies] == [200] * len(datasets)
    reference = _image(bodies[0].content)
    assert np.array_equal(reference, _expected(datasets[0]))
    for body in bodies[1:]:
        assert np.array_equal(_image(body.content), reference)


def test_images_pydicom_cannot_decode_are_rendered_with_imagecodecs(web: Web,
                                                                     tmp_path: Path) -> None:
    lossy12, lossless16 = _copy(tmp_path, "JPEG-lossy.dcm"), _copy(tmp_path, "JPEG-LL.dcm")
    _ingest(web, lossy12, lossless16)
    for dataset in (lossy12, lossless16):
        answer = web.http.get(_path(dataset) + "/rendered")
        assert answer.status_code == 200
        assert answer.headers["content-type"] == "image/jpeg"
        image = _image(answer.content)
        assert image.shape == (1024, 256)
        assert image.min() < 30 and image.max() > 220  # windowed over the frame's span


def test_the_viewport_scales_with_the_aspect_kept_and_crops(web: Web, tmp_path: Path) -> None:
    dataset = _copy(tmp_path, "CT_small.dcm")  # 128 × 128
    _ingest(web, dataset)
    expected = _expected(dataset)

    def rendered(viewport: str) -> np.ndarray:
        answer = web.http.get(_path(dataset) + "/rendered",
                              params={"viewport": viewport, "accept": "image/png"})
        assert answer.status_code == 200, answer.text
        return _image(answer.content)

    assert rendered("64,64").shape == (64, 64)
    assert rendered("100,50").shape == (50, 50)
    assert np.array_equal(rendered("32,32,10,20,32,32"), expected[20:52, 10:42])
    smaller = rendered("40,20,16,8,80,40")
    reference = np.asarray(Image.fromarray(expected[8:48, 16:96]).resize((40, 20),
                                                                         Image.BILINEAR))
    assert smaller.shape == (20, 40)
    assert np.abs(smaller.astype(int) - reference).max() <= 1
    beyond = rendered("64,64,96,96,64,64")  # what lies beyond the image is black
    assert np.array_equal(beyond[:32, :32], expected[96:, 96:])
    assert not beyond[32:].any() and not beyond[:, 32:].any()


def test_jpeg_is_the_default_and_quality_is_honoured(web: Web, tmp_path: Path) -> None:
    dataset = _copy(tmp_path, "US1_UNCR.dcm")
    _ingest(web, dataset)
    client = web.dicomweb()
    default = web.http.get(_path(dataset) + "/rendered")
    assert default.headers["content-type"] == "image/jpeg"
    assert default.content[:2] == b"\xff\xd8"
    rough, fine = (client.retrieve_instance_rendered(
        dataset.StudyInstanceUID, dataset.SeriesInstanceUID, dataset.SOPInstanceUID,
        media_types=("image/jpeg",), params={"quality": q}) for q in (10, 95))
    assert len(rough) < len(fine) / 2
    assert np.abs(_image(fine).astype(int) - _expected(dataset)).mean() < 3


def test_a_series_thumbnail_is_its_middle_slice(web: Web, tmp_path: Path) -> None:
    paths = write_ct_series(tmp_path / "ct", 5, size=64)
    for path in paths:
        web.app.ingest.ingest_file(path)
    middle = pydicom.dcmread(paths[2])
    series = f"/studies/{middle.StudyInstanceUID}/series/{middle.SeriesInstanceUID}"
    for url in (series + "/thumbnail", f"/studies/{middle.StudyInstanceUID}/thumbnail"):
        answer = web.http.get(url, headers={"Accept": "image/png"})
        assert answer.status_code == 200
        enlarged = np.asarray(Image.fromarray(_expected(middle)).resize((256, 256),
                                                                        Image.BILINEAR))
        assert np.abs(_image(answer.content).astype(int) - enlarged).max() <= 1
    small = web.http.get(series + "/thumbnail", params={"viewport": "32,16"})
    assert small.headers["content-type"] == "image/jpeg"
    assert _image(small.content).shape == (16, 16)


# ---------------------------------------------------------------- whole slides

@pytest.fixture(scope="module")
def slide(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An SVS (1800 × 1100, tiles of 256, one missing) and its DICOM conversions, TILED_FULL
    under ``full`` and TILED_SPARSE under ``sparse``."""
    folder = tmp_path_factory.mktemp("rendered-wsi")
    svs = make_svs(folder / "slide.svs", SlideSpec(width=1800, height=1100, tile=256,
                                                   missing=frozenset({MISSING_TILE})))
    convert(svs, folder / "full", Target.DICOM, DicomOptions())
    convert(svs, folder / "sparse", Target.DICOM, DicomOptions(sparse=True))
    return folder


def _slide_instances(web: Web, folder: Path) -> dict[str, Dataset]:
    """Ingest a converted slide; its instances by Image Type value 3 (VOLUME: the base)."""
    found: dict[str, Dataset] = {}
    for path in sorted(folder.iterdir()):
        web.app.ingest.ingest_file(path)
        dataset = pydicom.dcmread(path, stop_before_pixels=True)
        flavour = dataset.ImageType[2]
        if flavour != "VOLUME" or int(dataset.TotalPixelMatrixColumns) == 1800:
            found[flavour] = dataset
    return found


def _openslide_region(svs: Path, x: int, y: int, width: int, height: int) -> Image.Image:
    """A base-level region as OpenSlide reads it, composited on white (missing tiles are
    transparent there, glass here)."""
    with openslide.OpenSlide(str(svs)) as reference:
        region = reference.read_region((x, y), 0, (width, height))
    white = Image.new("RGBA", region.size, (255, 255, 255, 255))
    return Image.alpha_composite(white, region).convert("RGB")


@pytest.mark.parametrize("organization", ["full", "sparse"])
def test_a_slide_region_is_what_openslide_reads(web: Web, slide: Path,
                                                organization: str) -> None:
    level = _slide_instances(web, slide / organization)["VOLUME"]
    assert level.DimensionOrganizationType == f"TILED_{organization.upper()}"
    client = web.dicomweb()

    def rendered(viewport: str, media: tuple[str, ...] = PNG) -> np.ndarray:
        return _image(client.retrieve_instance_rendered(
            level.StudyInstanceUID, level.SeriesInstanceUID, level.SOPInstanceUID,
            media_types=media, params={"viewport": viewport}))

    # 1:1 across tile borders and the missing tile (5, 3): x 1280–1536, y 768–1024
    same = rendered("700,500,1000,600,700,500")
    reference = np.asarray(_openslide_region(slide / "slide.svs", 1000, 600, 700, 500))
    assert same.shape == (500, 700, 3)
    assert np.abs(same.astype(int) - reference).max() <= 2
    assert (same[200:400, 300:500] == 255).all()  # inside the missing tile
    assert (rendered("50,50,1300,800,100,100") == 255).all()  # only the missing tile
    # a quarter of the size, and the whole level into 450 × 450 (aspect kept: 450 × 275)
    for viewport, box, size in [("300,200,100,200,1200,800", (100, 200, 1200, 800), (300, 200)),
                                ("450,450", (0, 0, 1800, 1100), (450, 275))]:
        scaled = rendered(viewport)
        expected = np.asarray(_openslide_region(slide / "slide.svs", *box).resize(
            size, Image.BILINEAR))
        assert scaled.shape == (size[1], size[0], 3)
        difference = np.abs(scaled.astype(int) - expected)
        assert difference.max() <= 3 and difference.mean() < 0.5
    as_jpeg = rendered("300,200,100,200,1200,800", ("image/jpeg",))
    jpeg_reference = np.asarray(_openslide_region(slide / "slide.svs", 100, 200, 1200, 800)
                                .resize((300, 200), Image.BILINEAR))
    assert np.abs(as_jpeg.astype(int) - jpeg_reference).mean() < 6  # JPEG of noisy tissue


def test_a_slide_frame_is_rendered_as_its_tile(web: Web, slide: Path) -> None:
    level = _slide_instances(web, slide / "full")["VOLUME"]
    tiles_across = 8  # ceil(1800 / 256)
    body = web.dicomweb().retrieve_instance_frames_rendered(
        level.StudyInstanceUID, level.SeriesInstanceUID, level.SOPInstanceUID,
        [tiles_across + 3], media_types=PNG)  # tile (2, 1)
    reference = np.asarray(_openslide_region(slide / "slide.svs", 512, 256, 256, 256))
    assert np.abs(_image(body).astype(int) - reference).max() <= 2


def test_slide_thumbnails_use_the_small_images(web: Web, slide: Path) -> None:
    instances = _slide_instances(web, slide / "full")
    level = instances["VOLUME"]
    series = f"/studies/{level.StudyInstanceUID}/series/{level.SeriesInstanceUID}"
    with openslide.OpenSlide(str(slide / "slide.svs")) as reference:  # the THUMBNAIL image
        small = reference.associated_images["thumbnail"].convert("RGB")
    expected = np.asarray(small.resize((256, 156), Image.BILINEAR))
    for url in (series + "/thumbnail", f"/studies/{level.StudyInstanceUID}/thumbnail",
                _path(level) + "/thumbnail"):
        answer = web.http.get(url)
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"] == "image/jpeg"
        thumbnail = _image(answer.content)
        assert thumbnail.shape == (156, 256, 3)  # 1024 × 625 kept in 256 × 256
        assert np.abs(thumbnail.astype(int) - expected).mean() < 6
    label = web.http.get(_path(instances["LABEL"]) + "/thumbnail")
    assert _image(label.content).shape == (192, 256, 3)  # 400 × 300
    overview = web.http.get(_path(instances["OVERVIEW"]) + "/rendered")
    assert _image(overview.content).shape == (int(instances["OVERVIEW"].Rows),
                                              int(instances["OVERVIEW"].Columns), 3)


def test_a_region_over_too_many_tiles_is_refused(web: Web, slide: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    level = _slide_instances(web, slide / "full")["VOLUME"]
    monkeypatch.setattr(rendering, "MAX_SOURCE_TILES", 12)
    refused = web.http.get(_path(level) + "/rendered", params={"viewport": "256,256"})
    assert refused.status_code == 400
    assert "viewport" in refused.json()["detail"] and "tiles" in refused.json()["detail"]
    fine = web.http.get(_path(level) + "/rendered",
                        params={"viewport": "256,256,0,0,768,1024"})  # 3 × 4 tiles
    assert fine.status_code == 200


# ---------------------------------------------------------------- errors and caching

def test_bad_rendered_requests_get_clear_errors(web: Web, tmp_path: Path) -> None:
    dataset = _copy(tmp_path, "CT_small.dcm")
    plan = _copy(tmp_path, "rtplan.dcm")
    _ingest(web, dataset, plan)
    url = _path(dataset) + "/rendered"
    for params, named in [({"window": "abc"}, "window"), ({"window": "40,0"}, "window"),
                          ({"window": "40,400,cubic"}, "window"),
                          ({"viewport": "0,0"}, "viewport"), ({"viewport": "10,x"}, "viewport"),
                          ({"viewport": "9000,9000"}, "viewport"),
                          ({"viewport": "10,10,0,0,-5,5"}, "viewport"),
                          ({"viewport": "10,10,500,0,5,5"}, "viewport"),
                          ({"quality": "0"}, "quality"), ({"quality": "high"}, "quality")]:
        answer = web.http.get(url, params=params)
        assert answer.status_code == 400, params
        assert named in answer.json()["detail"], params
    assert web.http.get(url, headers={"Accept": "image/gif"}).status_code == 406
    assert web.http.get(url, params={"accept": "image/jp2"}).status_code == 406
    assert web.http.get(url, params={"accept": "image/png"},
                        headers={"Accept": "image/gif"}).status_code == 200
    assert web.http.get(_path(dataset) + "/frames/1,1/rendered").status_code == 406
    assert web.http.get(_path(dataset) + "/frames/x/rendered").status_code == 400
    assert web.http.get(_path(dataset) + "/frames/2/rendered").status_code == 404
    unknown = url.replace(dataset.SOPInstanceUID, "1.2.3.4")
    assert web.http.get(unknown).status_code == 404
    assert web.http.get(f"/studies/{generate_uid()}/thumbnail").status_code == 404
    not_an_image = web.http.get(_path(plan) + "/rendered")
    assert not_an_image.status_code == 406
    assert "not an image" in not_an_image.json()["detail"]


def test_rendered_images_are_cacheable(web: Web, tmp_path: Path) -> None:
    dataset = _copy(tmp_path, "MR_small.dcm")
    _ingest(web, dataset)
    url = _path(dataset) + "/rendered"
    first = web.http.get(url, params={"viewport": "32,32"})
    etag = first.headers["etag"]
    assert first.headers["cache-control"] == "private, max-age=86400"
    again = web.http.get(url, params={"viewport": "32,32"}, headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.headers["etag"] == etag and not again.content
    other_viewport = web.http.get(url, params={"viewport": "16,16"},
                                  headers={"If-None-Match": etag})
    as_png = web.http.get(url, params={"viewport": "32,32"},
                          headers={"If-None-Match": etag, "Accept": "image/png"})
    assert other_viewport.status_code == as_png.status_code == 200
    assert len({etag, other_viewport.headers["etag"], as_png.headers["etag"]}) == 3
    thumbnail = web.http.get(_path(dataset) + "/thumbnail")
    assert web.http.get(_path(dataset) + "/thumbnail", headers={
        "If-None-Match": thumbnail.headers["etag"]}).status_code == 304
