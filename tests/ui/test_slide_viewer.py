"""The slide viewer in the browser: tiles of every pyramid level through WADO-RS frames, a
drawn (not blank) canvas, a scale bar that follows the zoom, the label and overview, keyboard
navigation, full screen, switching between the study's slides, and a tablet viewport."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, Response, expect

from tests.slide_series import MPP, move_into_study, slide_series, volumes
from tests.ui.conftest import Ui, log_in, screenshot

FRAME = re.compile(r"/dicom-web/studies/[^/]+/series/[^/]+/instances/([^/]+)/frames/(\d+)$")
CANVAS_STATS = """(element) => {
  const canvas = element.osd.drawer.canvas;
  const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  let count = 0, sum = 0, squares = 0, white = 0;
  for (let i = 0; i < data.length; i += 4 * 5) {
    if (data[i + 3] < 255) continue;  // outside the slide the canvas is transparent
    const value = (data[i] + data[i + 1] + data[i + 2]) / 3;
    count += 1; sum += value; squares += value * value; if (value > 240) white += 1;
  }
  const mean = sum / Math.max(count, 1);
  return {count, mean, std: Math.sqrt(squares / Math.max(count, 1) - mean * mean),
          white: white / Math.max(count, 1)};
}"""
SETTLED = """(element) => {
  const viewer = element.osd;
  const item = viewer && viewer.world.getItemAt(0);
  const still = (a, b) => Math.abs(a - b) < 1e-9;
  const now = viewer.viewport.getCenter(true), goal = viewer.viewport.getCenter(false);
  return !!item && item.getFullyLoaded()
    && still(viewer.viewport.getZoom(true), viewer.viewport.getZoom(false))
    && still(now.x, goal.x) && still(now.y, goal.y);
}"""


@pytest.fixture(scope="module")
def slides(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Two slides of one study: SL-0001 (4096×2560, 1024×640, 256×160: at the home view the
    middle level is enough, so the base level is read only when zooming in) and SL-0002."""
    first = slide_series(tmp_path_factory.mktemp("slide1"), width=4096, height=2560)
    second = slide_series(tmp_path_factory.mktemp("slide2"), slide_id="SL-0002", seed=3)
    move_into_study(second, first)
    return first, second


def _ingest(ui: Ui, *folders: Path) -> None:
    for folder in folders:
        for path in sorted(folder.iterdir()):
            ui.app.ingest.ingest_file(path)


def _viewer_hash(folder: Path) -> str:
    base = volumes(folder)[0]
    return (f"#/viewer?studyinstanceuid={base.StudyInstanceUID}"
            f"&seriesinstanceuid={base.SeriesInstanceUID}")


def _frames(page: Page) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []

    def record(response: Response) -> None:
        match = FRAME.search(response.url.split("?")[0])
        if match:
            seen.append({"instance": match[1], "frame": int(match[2]),
                         "status": response.status,
                         "type": response.headers.get("content-type", "")})
    page.on("response", record)
    return seen


def _settle(page: Page) -> None:
    page.wait_for_timeout(300)
    page.wait_for_function(SETTLED, arg=page.locator(".slide-osd").element_handle(),
                           timeout=30_000)


def _canvas(page: Page) -> dict[str, float]:
    return page.locator(".slide-osd").evaluate(CANVAS_STATS)


def _zoom(page: Page) -> float:
    return page.locator(".slide-osd").evaluate("(e) => e.osd.viewport.getZoom(true)")


def _micrometres(text: str) -> float:
    number, unit = text.split()
    return float(number) * (1000 if unit == "mm" else 1)


def _scale_bar_matches_spacing(page: Page) -> str:
    """The scale bar's length over its width in screen pixels equals the micrometres a
    screen pixel covers at the current zoom (base-level pixel spacing over image zoom)."""
    text = page.locator(".slide-scalebar span").inner_text()
    assert re.fullmatch(r"[\d.]+ (µm|mm)", text), text
    width = page.locator(".slide-scalebar .bar").evaluate("(e) => e.getBoundingClientRect().width")
    shown = page.locator(".slide-osd").evaluate(
        "(e) => e.osd.viewport.viewportToImageZoom(e.osd.viewport.getZoom(true))")
    per_pixel = MPP / shown
    assert _micrometres(text) / width == pytest.approx(per_pixel, rel=0.03)
    return text


def test_the_slide_viewer_reads_tiles_of_every_level_and_draws_the_slide(
        page: Page, ui: Ui, slides: tuple[Path, Path]) -> None:
    first, _second = slides
    _ingest(ui, first)
    levels = [d.SOPInstanceUID for d in volumes(first)]
    frames = _frames(page)
    log_in(page, ui, hash_route=_viewer_hash(first))
    expect(page.locator(".slide-title")).to_have_text("SL-0001")
    _settle(page)
    stats = _canvas(page)
    assert stats["count"] > 10_000 and stats["std"] > 12 and stats["white"] < 0.9, stats
    home_bar = _scale_bar_matches_spacing(page)
    # the panel: label and overview pictures loaded, slide and patient fields shown
    for kind in ("label", "overview"):
        image = page.locator(f".slide-{kind} img")
        expect(image).to_be_visible()
        page.wait_for_function("(img) => img.complete && img.naturalWidth > 0",
                               arg=image.element_handle())
    fields = page.locator(".slide-fields")
    expect(fields).to_contain_text("SL-0001")
    expect(fields).to_contain_text("S26-04711 A1")
    expect(page.locator(".slide-help")).to_contain_text("f full screen")
    screenshot(page, "slide-viewer")
    assert levels[0] not in {f["instance"] for f in frames}, "the home view read the base level"
    before_zoom = len(frames)
    # zoom in with the keyboard until the base level shows at full resolution
    home_zoom = _zoom(page)
    for _ in range(4):
        page.keyboard.press("+")
    _settle(page)
    assert _zoom(page) > home_zoom * 4
    zoomed_bar = _scale_bar_matches_spacing(page)
    assert zoomed_bar != home_bar and _micrometres(zoomed_bar) < _micrometres(home_bar)
    assert any(f["instance"] == levels[0] for f in frames[before_zoom:]), \
        "zooming in fetched no new base-level tiles"
    stats = _canvas(page)
    assert stats["std"] > 12 and stats["white"] < 0.9, stats
    screenshot(page, "slide-viewer-zoomed")
    # arrows pan, 0 goes home
    centre = page.locator(".slide-osd").evaluate("(e) => e.osd.viewport.getCenter(true).x")
    page.keyboard.press("ArrowRight")
    _settle(page)
    assert page.locator(".slide-osd").evaluate(
        "(e) => e.osd.viewport.getCenter(true).x") > centre
    page.keyboard.press("0")
    _settle(page)
    assert _zoom(page) == pytest.approx(home_zoom, rel=0.01)
    # every stored level was read, each tile as a 200 image/jpeg
    assert {f["instance"] for f in frames} == set(levels)
    assert frames and all(f["status"] == 200 and f["type"] == "image/jpeg" for f in frames)


def test_full_screen_toggles_with_the_button_and_the_f_key(
        page: Page, ui: Ui, slides: tuple[Path, Path]) -> None:
    first, _second = slides
    _ingest(ui, first)
    log_in(page, ui, hash_route=_viewer_hash(first))
    _settle(page)
    stage = page.locator(".slide-stage")
    button = page.locator(".slide-fullscreen")
    button.click()
    expect(stage).to_have_class(re.compile(r"\bis-full\b"))
    expect(button).to_have_text("Exit full screen")
    assert page.evaluate("() => document.fullscreenElement?.className || ''").startswith(
        "slide-stage")
    _settle(page)
    screenshot(page, "slide-viewer-fullscreen")
    page.keyboard.press("f")
    expect(stage).not_to_have_class(re.compile(r"\bis-full\b"))
    assert page.evaluate("() => document.fullscreenElement") is None
    page.keyboard.press("f")
    expect(stage).to_have_class(re.compile(r"\bis-full\b"))
    button.click()
    expect(button).to_have_text("Full screen")


def test_the_study_s_other_slide_opens_from_the_list(
        page: Page, ui: Ui, slides: tuple[Path, Path]) -> None:
    first, second = slides
    _ingest(ui, first, second)
    log_in(page, ui, hash_route=_viewer_hash(first))
    links = page.locator(".slide-series a")
    expect(links).to_have_count(2)
    expect(links.nth(0)).to_contain_text("SL-0001")
    expect(links.nth(1)).to_contain_text("SL-0002")
    expect(page.locator(".slide-series a.current")).to_have_text(re.compile("SL-0001"))
    other = volumes(second)[0].SeriesInstanceUID
    page.locator(f".slide-series a[href*='{other}']").click()
    expect(page.locator(".slide-title")).to_have_text("SL-0002")
    expect(page.locator(".slide-series a.current")).to_have_text(re.compile("SL-0002"))
    _settle(page)
    assert _canvas(page)["std"] > 12


@pytest.fixture
def tablet(browser: Browser) -> Iterator[Page]:
    """A touch tablet, landscape 1024×768, failing on script errors."""
    context = browser.new_context(viewport={"width": 1024, "height": 768}, has_touch=True)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    yield tab
    context.close()
    assert not errors, f"script errors in the page: {errors}"


def test_the_slide_viewer_works_on_a_tablet_and_its_panel_folds_away_when_narrow(
        tablet: Page, ui: Ui, slides: tuple[Path, Path]) -> None:
    first, _second = slides
    _ingest(ui, first)
    log_in(tablet, ui, hash_route=_viewer_hash(first))
    _settle(tablet)
    assert _canvas(tablet)["std"] > 12
    expect(tablet.locator(".slide-panel")).to_be_visible()
    screenshot(tablet, "slide-viewer-tablet")
    # a tap-and-drag pans (touch events reach OpenSeadragon)
    box = tablet.locator(".slide-osd").bounding_box()
    assert box is not None and box["width"] > 500
    # portrait: the panel starts folded and opens with the Details button
    tablet.set_viewport_size({"width": 768, "height": 1024})
    tablet.reload()
    _settle(tablet)
    panel = tablet.locator(".slide-panel")
    expect(panel).to_be_hidden()
    tablet.locator(".slide-panel-toggle").tap()
    expect(panel).to_be_visible()
    expect(tablet.locator(".slide-fields")).to_contain_text("SL-0001")
    assert _canvas(tablet)["std"] > 12
    screenshot(tablet, "slide-viewer-tablet-portrait")


def test_missing_tiles_of_a_sparse_slide_are_never_requested(
        page: Page, ui: Ui, tmp_path: Path) -> None:
    missing = frozenset({(0, 0), (3, 2), (7, 4)})
    folder = slide_series(tmp_path, sparse=True, missing=missing, slide_id="SL-S")
    _ingest(ui, folder)
    base = volumes(folder)[0]
    frames = _frames(page)
    log_in(page, ui, hash_route=_viewer_hash(folder))
    _settle(page)
    for key in ("+", "+", "ArrowRight", "ArrowDown", "ArrowLeft", "ArrowLeft", "0"):
        page.keyboard.press(key)
        _settle(page)
    assert _canvas(page)["std"] > 12
    read = [f["frame"] for f in frames if f["instance"] == base.SOPInstanceUID]
    # the whole base level was in view: each present tile read once, no request for a gap
    assert sorted(read) == list(range(1, base.NumberOfFrames + 1))
    assert base.NumberOfFrames == 8 * 5 - len(missing)
    assert all(f["status"] == 200 and f["type"] == "image/jpeg" for f in frames)
