"""The slide viewer's API: a slide series' pyramid (TILED_FULL and TILED_SPARSE levels),
associated images and identifiers, for logged-in users only; clear errors otherwise."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import imagecodecs
import pydicom
import pytest
from pydicom.data import get_testdata_file

from slidepacs.testing.slides import SlideSpec, make_svs
from slidepacs.wsi.convert import Target, convert
from slidepacs.wsi.model import Codec
from slidepacs.wsi.to_dicom import DicomOptions
from tests.slide_series import (
    DOWNSAMPLES,
    HEIGHT,
    MPP,
    TILE,
    WIDTH,
    datasets,
    slide_series,
    volumes,
)
from tests.web.conftest import Web

USER, PASSWORD = "viewer", "a long enough passphrase"
MISSING = frozenset({(0, 0), (7, 4), (3, 2)})


@pytest.fixture(scope="module")
def full_slide(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return slide_series(tmp_path_factory.mktemp("full"))


@pytest.fixture(scope="module")
def sparse_slide(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return slide_series(tmp_path_factory.mktemp("sparse"), sparse=True, missing=MISSING,
                        slide_id="SL-SPARSE", seed=11)


@pytest.fixture
def session(web: Web) -> Iterator[httpx.Client]:
    """A client logged in as a plain user."""
    web.app.accounts.add(USER, "user", PASSWORD)
    base = web.root.removesuffix("/dicom-web")
    with httpx.Client(base_url=base + "/viewer/api", timeout=60) as client:
        answer = client.post("/login", json={"username": USER, "password": PASSWORD})
        assert answer.status_code == 200, answer.text
        yield client


def _ingest(web: Web, folder: Path) -> None:
    for path in sorted(folder.iterdir()):
        web.app.ingest.ingest_file(path)


def test_a_tiled_full_slide_lists_every_level_largest_first_with_its_tiles(
        web: Web, session: httpx.Client, full_slide: Path) -> None:
    _ingest(web, full_slide)
    base = volumes(full_slide)[0]
    answer = session.get(f"/slides/{base.StudyInstanceUID}/{base.SeriesInstanceUID}")
    assert answer.status_code == 200, answer.text
    slide = answer.json()
    levels = slide["levels"]
    assert [level["instance"] for level in levels] == [d.SOPInstanceUID
                                                      for d in volumes(full_slide)]
    assert [(level["width"], level["height"]) for level in levels] == [
        (-(-WIDTH // d), -(-HEIGHT // d)) for d in DOWNSAMPLES]
    for level, stored in zip(levels, volumes(full_slide), strict=True):
        assert (level["tile_width"], level["tile_height"]) == (TILE, TILE)
        assert level["frames"] == stored.NumberOfFrames
        assert level["organization"] == "TILED_FULL" and "tiles" not in level
        assert level["media_type"] == level["accept"] == "image/jpeg"
        assert level["transfer_syntax"] == "1.2.840.10008.1.2.4.50"
    assert slide["pixel_spacing_mm"] == pytest.approx([MPP / 1000, MPP / 1000])
    assert slide["objective_power"] == 40.0
    kinds = {kind: [d.SOPInstanceUID for d in datasets(full_slide) if kind in d.ImageType]
             for kind in ("LABEL", "OVERVIEW", "THUMBNAIL")}
    assert all(kinds.values())
    assert (slide["label"], slide["overview"], slide["thumbnail"]) == (
        kinds["LABEL"][0], kinds["OVERVIEW"][0], kinds["THUMBNAIL"][0])
    assert slide["slide_id"] == "SL-0001"
    assert slide["barcode"] == "S26-04711 A1"
    assert slide["container_id"] == base.ContainerIdentifier
    assert slide["specimen"]["identifier"] == base.SpecimenDescriptionSequence[0] \
        .SpecimenIdentifier
    assert slide["patient"]["PatientID"] == str(base.PatientID)
    assert slide["series_fields"]["Modality"] == "SM"
    assert [(s["series"], s["slide_id"]) for s in slide["study_slides"]] == [
        (base.SeriesInstanceUID, "SL-0001")]
    # whoever looked is in the audit log
    assert [(e.actor, e.action) for e in web.app.audit.recent(actor=USER)][:1] == [
        (USER, "slide.view")]


def test_a_tiled_sparse_level_maps_each_present_tile_to_its_frame_and_omits_missing_ones(
        web: Web, session: httpx.Client, sparse_slide: Path) -> None:
    _ingest(web, sparse_slide)
    base = volumes(sparse_slide)[0]
    slide = session.get(f"/slides/{base.StudyInstanceUID}/{base.SeriesInstanceUID}").json()
    level = slide["levels"][0]
    assert level["organization"] == "TILED_SPARSE"
    across, down = -(-WIDTH // TILE), -(-HEIGHT // TILE)
    expected = {f"{x},{y}" for y in range(down) for x in range(across)} - {
        f"{x},{y}" for x, y in MISSING}
    assert set(level["tiles"]) == expected
    assert level["frames"] == base.NumberOfFrames == across * down - len(MISSING)
    # each frame number points at the frame whose plane position is that tile
    for number, group in enumerate(base.PerFrameFunctionalGroupsSequence, start=1):
        plane = group.PlanePositionSlideSequence[0]
        key = (f"{(plane.ColumnPositionInTotalImagePixelMatrix - 1) // TILE},"
               f"{(plane.RowPositionInTotalImagePixelMatrix - 1) // TILE}")
        assert level["tiles"][key] == number
    assert sorted(level["tiles"].values()) == list(range(1, base.NumberOfFrames + 1))
    assert slide["slide_id"] == "SL-SPARSE"


def test_an_unknown_series_is_404_and_a_series_that_is_no_slide_is_400(
        web: Web, session: httpx.Client) -> None:
    ct = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    web.app.ingest.ingest_file(Path(get_testdata_file("CT_small.dcm")))
    unknown = session.get(f"/slides/{ct.StudyInstanceUID}/1.2.3.4")
    assert unknown.status_code == 404
    assert "1.2.3.4" in unknown.json()["detail"]
    not_slide = session.get(f"/slides/{ct.StudyInstanceUID}/{ct.SeriesInstanceUID}")
    assert not_slide.status_code == 400
    assert "not a whole slide" in not_slide.json()["detail"]
    bad = session.get("/slides/1.2.3/not*a*uid")
    assert bad.status_code == 400
    assert "SeriesInstanceUID" in bad.json()["detail"]


def test_the_slide_api_needs_a_session(web: Web, full_slide: Path) -> None:
    _ingest(web, full_slide)
    base = volumes(full_slide)[0]
    with httpx.Client(base_url=web.root.removesuffix("/dicom-web"), timeout=60) as client:
        answer = client.get(
            f"/viewer/api/slides/{base.StudyInstanceUID}/{base.SeriesInstanceUID}")
    assert answer.status_code == 401
    assert web.app.audit.recent(action="slide.view") == []


def test_a_jpeg_2000_slide_tells_the_browser_to_ask_for_its_tiles_as_jpeg(
        web: Web, session: httpx.Client, tmp_path: Path) -> None:
    svs = make_svs(tmp_path / "j2k.svs", SlideSpec(width=600, height=400, tile=256,
                                                    downsamples=(1, 4), codec=Codec.JPEG2000))
    convert(svs, tmp_path / "j2k", Target.DICOM, DicomOptions())
    _ingest(web, tmp_path / "j2k")
    base = volumes(tmp_path / "j2k")[0]
    slide = session.get(f"/slides/{base.StudyInstanceUID}/{base.SeriesInstanceUID}").json()
    level = slide["levels"][0]
    assert level["media_type"] == "image/jp2"
    assert level["accept"] == "image/jpeg; transfer-syntax=1.2.840.10008.1.2.4.50"
    tile = web.http.get(f"/studies/{base.StudyInstanceUID}/series/{base.SeriesInstanceUID}"
                        f"/instances/{base.SOPInstanceUID}/frames/1",
                        headers={"Accept": level["accept"]})
    assert tile.status_code == 200 and tile.headers["content-type"] == "image/jpeg"
    assert imagecodecs.jpeg8_decode(tile.content).shape == (256, 256, 3)
