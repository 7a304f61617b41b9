"""The radiology viewer in the browser: window/level changes the canvas pixels and the
rendered requests, series scroll, length measurement in mm, zoom, multi-frame playback and
the tablet layout, over a CT series and a multi-frame MR imported into one study."""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import numpy as np
import pydicom
import pytest
from playwright.sync_api import Page, expect
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid

from tests.ui.conftest import Ui, log_in, screenshot

CT_SLICES = 5


@dataclass(frozen=True)
class Samples:
    """UIDs of the imported study: a CT series and a multi-frame MR series."""

    study: str
    ct_series: str
    ct_spacing: tuple[float, float]  # PixelSpacing: row spacing, column spacing (mm)
    mr_series: str
    mr_frames: int

    def ct_hash(self) -> str:
        return f"#/viewer?studyinstanceuid={self.study}&seriesinstanceuid={self.ct_series}"

    def mr_hash(self) -> str:
        return f"#/viewer?studyinstanceuid={self.study}&seriesinstanceuid={self.mr_series}"


@pytest.fixture
def samples(ui: Ui, tmp_path: Path) -> Samples:
    """A study with CT_SLICES copies of CT_small.dcm (each slice's pixels shifted, so that
    the slices differ) and emri_small.dcm (10 frames, no pixel spacing) as a second series."""
    folder = tmp_path / "samples"
    folder.mkdir()
    study, ct_series, mr_series = generate_uid(), generate_uid(), generate_uid()
    ct = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    pixels = ct.pixel_array
    for number in range(CT_SLICES):
        ct.StudyInstanceUID, ct.SeriesInstanceUID = study, ct_series
        ct.SOPInstanceUID = ct.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        ct.InstanceNumber = number + 1
        ct.ImagePositionPatient = [-158.135803, -179.035797, -75.7 + 5 * number]
        ct.SeriesDescription = "CT small slices"
        ct.PixelData = np.roll(pixels, 20 * number, axis=1).astype(pixels.dtype).tobytes()
        ct.save_as(folder / f"ct{number}.dcm")
    mr = pydicom.dcmread(get_testdata_file("emri_small.dcm"))
    mr.StudyInstanceUID, mr.SeriesInstanceUID = study, mr_series
    mr.PatientID, mr.PatientName, mr.StudyDate = ct.PatientID, ct.PatientName, ct.StudyDate
    mr.SeriesNumber, mr.SeriesDescription = 2, "MR multi-frame"
    mr.save_as(folder / "mr.dcm")
    for path in sorted(folder.iterdir()):
        ui.app.ingest.ingest_file(path)
    row, column = (float(x) for x in ct.PixelSpacing)
    return Samples(study, ct_series, (row, column), mr_series, int(mr.NumberOfFrames))


def canvas_digest(page: Page) -> dict[str, float]:
    """The mean and a checksum of the canvas pixels."""
    return page.evaluate("""() => {
        const canvas = document.querySelector('.rad-canvas');
        const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
        let sum = 0, check = 0;
        for (let i = 0; i < data.length; i += 4) {
            sum += data[i];
            check = (check * 31 + data[i] + 7 * data[i + 1]) % 1000000007;
        }
        return {mean: sum / (data.length / 4), check};
    }""")


def open_viewer(page: Page, ui: Ui, route: str) -> None:
    log_in(page, ui, hash_route=route)
    expect(page.locator(".rad-canvas[data-loaded]")).to_be_attached()


def wait_loaded_after(page: Page, count: str) -> None:
    page.wait_for_function(
        "n => document.querySelector('.rad-canvas').dataset.loaded !== n", arg=count)


def loads(page: Page) -> str:
    return page.locator(".rad-canvas").get_attribute("data-loaded") or ""


def canvas_box(page: Page) -> dict[str, float]:
    box = page.locator(".rad-canvas").bounding_box()
    assert box is not None
    return box


def window_of(url: str) -> str:
    return parse_qs(urlparse(url).query).get("window", [""])[0]


def test_window_presets_and_a_mouse_drag_change_the_canvas_pixels_and_the_requested_window(
        page: Page, ui: Ui, samples: Samples) -> None:
    open_viewer(page, ui, samples.ct_hash())
    expect(page.locator(".rad-image-text")).to_have_text(f"image 1 / {CT_SLICES}")
    expect(page.locator(".rad-ov.tl")).to_contain_text("CompressedSamples^CT1")
    screenshot(page, "radiology-viewer")
    before = canvas_digest(page)
    with page.expect_request(lambda r: "/rendered" in r.url and window_of(r.url)) as lung:
        page.click("button.rad-preset[data-preset=Lung]")
    assert window_of(lung.value.url) == "-600,1500,linear"
    expect(page.locator(".rad-canvas")).to_have_attribute("data-src", lung.value.url.split(
        ui.base)[1])
    expect(page.locator(".rad-ov-wl")).to_have_text("C -600 / W 1500")
    after_lung = canvas_digest(page)
    assert after_lung["check"] != before["check"]
    assert after_lung["mean"] != pytest.approx(before["mean"], abs=0.5)
    screenshot(page, "radiology-viewer-lung-window")

    page.click("button.rad-tool[data-tool=wl]")
    box = canvas_box(page)
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    requested: list[str] = []
    page.on("request", lambda r: requested.append(r.url) if "/rendered" in r.url else None)
    shown = loads(page)
    page.mouse.move(x, y)
    page.mouse.down()
    for step in range(1, 11):
        page.mouse.move(x - 20 * step, y - 12 * step)
    page.mouse.up()
    wait_loaded_after(page, shown)
    page.wait_for_function("() => { const c = document.querySelector('.rad-canvas');"
                           " return c.dataset.src.includes(c.dataset.window + ',linear'); }")
    dragged = canvas_digest(page)
    assert dragged["check"] != after_lung["check"]
    center, width = (float(v) for v in
                     page.locator(".rad-canvas").get_attribute("data-window").split(","))
    assert width < 1500 and center < -600  # left: narrower; up: lower centre
    assert requested and all(window_of(u) not in ("", "-600,1500,linear") for u in requested)
    assert window_of(requested[-1]) == f"{center:g},{width:g},linear"
    expect(page.locator(".rad-ov-wl")).to_have_text(f"C {center:g} / W {width:g}")


def test_a_drag_from_the_default_window_starts_from_the_frames_full_range(
        page: Page, ui: Ui, samples: Samples) -> None:
    """CT_small has no window: the server shows its full range, which the viewer reads from
    the frame's values when a drag starts, so that the drag continues from what is shown."""
    open_viewer(page, ui, samples.ct_hash())
    expect(page.locator(".rad-ov-wl")).to_have_text("C/W auto (full range)")
    ct = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    values = ct.pixel_array.astype(float) * float(ct.RescaleSlope) + float(ct.RescaleIntercept)
    low, high = values.min(), values.max()
    box = canvas_box(page)
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    with page.expect_response(lambda r: r.url.endswith("/frames/1")) as raw:
        page.mouse.down()
    assert raw.value.ok
    page.wait_for_function("() => document.querySelector('.rad-canvas').dataset.window")
    page.mouse.move(x, y + 10)
    page.mouse.up()
    center, width = (float(v) for v in
                     page.locator(".rad-canvas").get_attribute("data-window").split(","))
    step = (high - low) / 250
    assert width == pytest.approx(high - low, abs=0.01)
    assert center == pytest.approx((low + high) / 2 + 10 * step, abs=0.01)
    expect(page.locator(".rad-canvas")).to_have_attribute(
        "data-src", re.compile(rf"window={center:g},{width:g},linear$"))


def test_a_drag_issues_at_most_one_rendered_request_at_a_time(page: Page, ui: Ui,
                                                               samples: Samples) -> None:
    open_viewer(page, ui, samples.ct_hash())
    page.wait_for_load_state("networkidle")  # the neighbours' prefetch is done
    in_flight, worst, started_urls = [0], [0], []

    def started(request):  # noqa: ANN001
        if "/rendered" in request.url:
            started_urls.append(request.url)
            in_flight[0] += 1
            worst[0] = max(worst[0], in_flight[0])

    def ended(request):  # noqa: ANN001
        if "/rendered" in request.url:
            in_flight[0] -= 1

    page.on("request", started)
    page.on("requestfinished", ended)
    page.on("requestfailed", ended)
    box = canvas_box(page)
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    for step in range(1, 31):
        page.mouse.move(x + 5 * step, y + 3 * step)
    page.mouse.up()
    during = worst[0]
    page.wait_for_timeout(100)
    assert during == 1 and worst[0] == 1
    assert len(started_urls) >= 2  # the drag did update the image on the way


def test_wheel_keys_and_the_slider_scroll_through_the_series(page: Page, ui: Ui,
                                                             samples: Samples) -> None:
    open_viewer(page, ui, samples.ct_hash())
    text = page.locator(".rad-image-text")
    first = canvas_digest(page)
    box = canvas_box(page)
    page.mouse.move(box["x"] + 50, box["y"] + 50)
    shown = loads(page)
    page.mouse.wheel(0, 100)
    expect(text).to_have_text(f"image 2 / {CT_SLICES}")
    wait_loaded_after(page, shown)
    second = canvas_digest(page)
    assert second["check"] != first["check"]
    page.keyboard.press("ArrowDown")
    expect(text).to_have_text(f"image 3 / {CT_SLICES}")
    page.keyboard.press("End")
    expect(text).to_have_text(f"image {CT_SLICES} / {CT_SLICES}")
    page.locator(".rad-image-slider").fill("1")
    expect(text).to_have_text(f"image 1 / {CT_SLICES}")
    page.wait_for_function("() => document.querySelector('.rad-canvas').dataset.src"
                           ".includes('/frames/1/rendered')")
    page.wait_for_timeout(300)
    assert canvas_digest(page)["check"] == first["check"]  # back on the first slice
    page.locator(".rad-canvas").focus()  # the keys go to the viewer, not to the slider
    page.keyboard.press("ArrowUp")  # already at the first: stays
    expect(text).to_have_text(f"image 1 / {CT_SLICES}")


def test_a_measured_line_shows_its_length_in_mm_from_the_pixel_spacing(
        page: Page, ui: Ui, samples: Samples) -> None:
    open_viewer(page, ui, samples.ct_hash())
    page.click("button.rad-tool[data-tool=measure]")
    box = canvas_box(page)
    start = (box["x"] + box["width"] / 2 - 150, box["y"] + box["height"] / 2 - 60)
    end = (box["x"] + box["width"] / 2 + 120, box["y"] + box["height"] / 2 + 110)
    page.mouse.move(*start)
    page.mouse.down()
    page.mouse.move(*end, steps=8)
    page.mouse.up()
    item = page.locator(".rad-measures li")
    expect(item).to_have_count(1)
    scale, left, top, aspect = (
        float(v) for v in page.locator(".rad-canvas").get_attribute("data-transform").split(","))
    assert aspect == 1  # square pixels: row spacing = column spacing
    a = ((start[0] - box["x"] - left) / scale, (start[1] - box["y"] - top) / scale)
    b = ((end[0] - box["x"] - left) / scale, (end[1] - box["y"] - top) / scale)
    row, column = samples.ct_spacing
    expected = math.hypot((b[0] - a[0]) * column, (b[1] - a[1]) * row)
    assert item.get_attribute("data-unit") == "mm"
    assert float(item.get_attribute("data-length")) == pytest.approx(expected, rel=0.01)
    expect(item).to_have_text(f"Line 1: {expected:.1f} mm")
    expect(page.locator(".rad-warning")).to_be_hidden()
    screenshot(page, "radiology-measure")
    page.click("button[data-action=clear]")
    expect(item).to_have_count(0)


def test_without_pixel_spacing_a_line_is_measured_in_px_with_a_warning(
        page: Page, ui: Ui, samples: Samples) -> None:
    open_viewer(page, ui, samples.mr_hash())
    expect(page.locator(".rad-warning")).to_contain_text("No pixel spacing")
    page.click("button.rad-tool[data-tool=measure]")
    box = canvas_box(page)
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x - 100, y)
    page.mouse.down()
    page.mouse.move(x + 100, y, steps=5)
    page.mouse.up()
    scale = float(page.locator(".rad-canvas").get_attribute("data-transform").split(",")[0])
    item = page.locator(".rad-measures li")
    assert item.get_attribute("data-unit") == "px"
    assert float(item.get_attribute("data-length")) == pytest.approx(200 / scale, rel=0.01)
    expect(item).to_contain_text(" px")


def test_zoom_changes_the_canvas_and_fit_restores_it(page: Page, ui: Ui,
                                                     samples: Samples) -> None:
    open_viewer(page, ui, samples.ct_hash())
    fitted = canvas_digest(page)
    fitted_zoom = page.locator(".rad-ov-zoom").text_content()
    box = canvas_box(page)
    page.mouse.move(box["x"] + box["width"] / 2 + 40, box["y"] + box["height"] / 2)
    page.keyboard.down("Control")
    page.mouse.wheel(0, -300)
    page.keyboard.up("Control")
    page.wait_for_timeout(200)
    zoomed = canvas_digest(page)
    assert zoomed["check"] != fitted["check"]
    assert page.locator(".rad-ov-zoom").text_content() != fitted_zoom
    expect(page.locator(".rad-image-text")).to_have_text(f"image 1 / {CT_SLICES}")  # no scroll
    page.click("button.rad-tool[data-tool=pan]")
    page.mouse.move(box["x"] + 200, box["y"] + 200)
    page.mouse.down()
    page.mouse.move(box["x"] + 260, box["y"] + 230, steps=4)
    page.mouse.up()
    assert canvas_digest(page)["check"] != zoomed["check"]
    page.click("button[data-action=fit]")
    page.wait_for_timeout(100)
    assert canvas_digest(page)["check"] == fitted["check"]
    expect(page.locator(".rad-ov-zoom")).to_have_text(fitted_zoom or "")


def test_multi_frame_playback_advances_frames_and_stops_on_pause(page: Page, ui: Ui,
                                                                 samples: Samples) -> None:
    open_viewer(page, ui, samples.mr_hash())
    frame = page.locator(".rad-frame-text")
    expect(frame).to_have_text(f"frame 1 / {samples.mr_frames}")
    first = canvas_digest(page)
    page.locator(".rad-fps").fill("8")
    page.click("button.rad-play")
    expect(page.locator("button.rad-play")).to_have_text("Pause")
    seen = set()
    deadline = time.monotonic() + 6
    while len(seen) < 4 and time.monotonic() < deadline:
        seen.add(frame.text_content())
        page.wait_for_timeout(60)
    assert len(seen) >= 4, seen
    assert canvas_digest(page)["check"] != first["check"]
    screenshot(page, "radiology-multiframe")
    page.click("button.rad-play")
    expect(page.locator("button.rad-play")).to_have_text("Play")
    paused = frame.text_content()
    page.wait_for_timeout(1000)
    assert frame.text_content() == paused
    # the frame slider and the arrow keys step frames
    page.locator(".rad-frame-slider").fill("7")
    expect(frame).to_have_text(f"frame 7 / {samples.mr_frames}")
    page.keyboard.press("ArrowRight")
    expect(frame).to_have_text(f"frame 8 / {samples.mr_frames}")


def test_playback_without_loop_stops_at_the_last_frame(page: Page, ui: Ui,
                                                       samples: Samples) -> None:
    open_viewer(page, ui, samples.mr_hash())
    page.locator(".rad-fps").fill("30")
    page.locator(".rad-loop").uncheck()
    page.click("button.rad-play")
    frame = page.locator(".rad-frame-text")
    expect(frame).to_have_text(f"frame {samples.mr_frames} / {samples.mr_frames}",
                               timeout=10_000)
    expect(page.locator("button.rad-play")).to_have_text("Play")


def test_the_series_list_switches_to_another_series_of_the_study(page: Page, ui: Ui,
                                                                 samples: Samples) -> None:
    open_viewer(page, ui, samples.ct_hash())
    items = page.locator(".rad-series-item")
    expect(items).to_have_count(2)
    expect(page.locator(f".rad-series-item[data-series='{samples.ct_series}']")
           ).to_have_attribute("aria-current", "true")
    page.click(f".rad-series-item[data-series='{samples.mr_series}']")
    expect(page.locator(".rad-frame-text")).to_have_text(f"frame 1 / {samples.mr_frames}")
    expect(page.locator(".rad-image-text")).to_have_text("image 1 / 1")
    expect(page.locator("button.rad-preset[data-preset=Lung]")).to_have_count(0)  # CT only


@pytest.mark.parametrize("width, height", [(768, 1024), (1024, 768)])
def test_the_viewer_fits_a_tablet_viewport(page: Page, ui: Ui, samples: Samples,
                                           width: int, height: int) -> None:
    page.set_viewport_size({"width": width, "height": height})
    open_viewer(page, ui, samples.ct_hash())
    for selector in [".rad-canvas", ".rad-image-slider", "button.rad-preset[data-preset=Bone]",
                     "button.rad-tool[data-tool=measure]", "button[data-action=reset]",
                     ".rad-series-item"]:
        box = page.locator(selector).first.bounding_box()
        assert box is not None, selector
        assert box["x"] >= 0 and box["x"] + box["width"] <= width + 0.5, selector
        assert box["y"] >= 0 and box["y"] + box["height"] <= height + 0.5, selector
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    assert canvas_box(page)["height"] > height * 0.35
    if width < height:
        page.click("button.rad-preset[data-preset=Lung]")
        expect(page.locator(".rad-ov-wl")).to_have_text("C -600 / W 1500")
        screenshot(page, "radiology-tablet")
    else:
        screenshot(page, "radiology-tablet-landscape")


def test_a_one_finger_touch_drag_measures_on_a_tablet(page: Page, ui: Ui,
                                                      samples: Samples) -> None:
    page.set_viewport_size({"width": 768, "height": 1024})
    open_viewer(page, ui, samples.ct_hash())
    page.click("button.rad-tool[data-tool=measure]")
    box = canvas_box(page)
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    touch = page.context.new_cdp_session(page)
    touch.send("Input.dispatchTouchEvent", {"type": "touchStart",
                                            "touchPoints": [{"x": x - 100, "y": y}]})
    for step in range(1, 6):
        touch.send("Input.dispatchTouchEvent", {"type": "touchMove",
                                                "touchPoints": [{"x": x - 100 + 40 * step,
                                                                 "y": y}]})
    touch.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    item = page.locator(".rad-measures li")
    expect(item).to_have_count(1)
    scale = float(page.locator(".rad-canvas").get_attribute("data-transform").split(",")[0])
    expected = 200 / scale * samples.ct_spacing[1]
    assert float(item.get_attribute("data-length")) == pytest.approx(expected, rel=0.01)


def test_non_square_pixels_keep_their_shape_and_measure_true_lengths(
        page: Page, ui: Ui, tmp_path: Path) -> None:
    ct = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    ct.StudyInstanceUID, ct.SeriesInstanceUID = generate_uid(), generate_uid()
    ct.SOPInstanceUID = ct.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ct.PixelSpacing = [1.0, 0.5]  # rows 1 mm apart, columns 0.5 mm apart
    ct.save_as(tmp_path / "tall.dcm")
    ui.app.ingest.ingest_file(tmp_path / "tall.dcm")
    open_viewer(page, ui, f"#/viewer?seriesinstanceuid={ct.SeriesInstanceUID}")
    scale, _left, _top, aspect = (
        float(v) for v in page.locator(".rad-canvas").get_attribute("data-transform").split(","))
    assert aspect == 2
    box = canvas_box(page)
    assert box["height"] * 0.99 <= 128 * scale * aspect <= box["height"] + 0.5  # fitted, tall
    page.click("button.rad-tool[data-tool=measure]")
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    for (x0, y0), (x1, y1) in [((x - 50, y), (x + 50, y)), ((x, y - 50), (x, y + 50))]:
        page.mouse.move(x0, y0)
        page.mouse.down()
        page.mouse.move(x1, y1, steps=4)
        page.mouse.up()
    lengths = [float(v) for v in page.locator(".rad-measures li").evaluate_all(
        "items => items.map(i => i.dataset.length)")]
    # 100 screen pixels are 100/scale columns (0.5 mm) or 50/scale rows (1 mm): the same mm
    assert lengths == pytest.approx([50 / scale, 50 / scale], rel=0.01)


def test_the_scroll_tool_steps_through_images_with_a_one_finger_drag(
        page: Page, ui: Ui, samples: Samples) -> None:
    page.set_viewport_size({"width": 768, "height": 1024})
    open_viewer(page, ui, samples.ct_hash())
    page.click("button.rad-tool[data-tool=scroll]")
    box = canvas_box(page)
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 3
    touch = page.context.new_cdp_session(page)
    touch.send("Input.dispatchTouchEvent",
               {"type": "touchStart", "touchPoints": [{"x": x, "y": y}]})
    for step in range(1, 7):  # 36 px down: three images on
        touch.send("Input.dispatchTouchEvent", {"type": "touchMove",
                                                "touchPoints": [{"x": x, "y": y + 6 * step}]})
    touch.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    expect(page.locator(".rad-image-text")).to_have_text(f"image 4 / {CT_SLICES}")


def test_a_colour_image_offers_no_window(page: Page, ui: Ui, tmp_path: Path) -> None:
    rgb = pydicom.dcmread(get_testdata_file("SC_rgb.dcm"))
    rgb.SOPInstanceUID = rgb.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    rgb.SeriesInstanceUID = generate_uid()
    rgb.save_as(tmp_path / "rgb.dcm")
    ui.app.ingest.ingest_file(tmp_path / "rgb.dcm")
    open_viewer(page, ui, f"#/viewer?seriesinstanceuid={rgb.SeriesInstanceUID}")
    expect(page.locator("button.rad-preset")).to_have_count(1)  # Default only
    expect(page.locator(".rad-ov-wl")).to_have_text("colour image: no window")
    before = page.locator(".rad-canvas").get_attribute("data-src")
    box = canvas_box(page)
    page.mouse.move(box["x"] + 100, box["y"] + 100)
    page.mouse.down()
    page.mouse.move(box["x"] + 200, box["y"] + 160, steps=5)
    page.mouse.up()
    page.wait_for_timeout(300)
    assert page.locator(".rad-canvas").get_attribute("data-src") == before
    assert "window=" not in (before or "")
