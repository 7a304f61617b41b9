"""The study list in Chromium: URL searches with each operator kind, the search form, sorting,
paging, thumbnails and the drill-down into series and the viewer."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from urllib.parse import quote

import pytest
from playwright.sync_api import Page, expect

from tests.study_samples import add_sample_studies
from tests.ui.conftest import Ui, log_in, screenshot, start_ui


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Ui, dict[str, str]]]:
    """One archive with the sample studies for every test of this module (they only read)."""
    folder = tmp_path_factory.mktemp("study-list")
    for ui in start_ui(folder):
        yield ui, add_sample_studies(ui.app, folder / "files", date.today())


@pytest.fixture
def ui(archive: tuple[Ui, dict[str, str]]) -> Ui:
    return archive[0]


def shown_patients(page: Page) -> list[str]:
    """The Patient ID column of the table, once the list has loaded."""
    page.wait_for_selector("#result-count")
    return [text or "slide" for text in
            page.locator("#study-table tbody tr td:nth-child(3)").all_inner_texts()]


def open_list(page: Page, ui: Ui, query: str) -> list[str]:
    page.goto("about:blank")  # a fresh load: no table of the previous search stays around
    page.goto(ui.url(f"/viewer/#/list?{query}"))
    return shown_patients(page)


@pytest.fixture
def logged_in(page: Page, ui: Ui) -> Page:
    log_in(page, ui)
    return page


@pytest.mark.parametrize(("query", "expected"), [
    ("patientid=P100", ["P100"]),                               # equal
    ("accessionnumber===ACC-B", ["P200"]),                      # equal, ===
    ("modality=!=CT", ["P300", "slide", "P200"]),               # not equal
    ("seriesnumber=>>2", ["P300", "slide", "P200"]),            # greater
    ("studydate=>=2024/01/15", ["P300", "slide", "P100"]),      # greater or equal
    ("patientbirthdate=<<1970/01/01", ["P200"]),                # less
    ("seriesnumber=<=3", ["P100", "P200"]),                     # less or equal
    ("patientname=**oe", ["P300", "P100", "P200"]),             # contains
    ("patientid=P100&patientid=P200", ["P100", "P200"]),        # OR by repeating patientid
    ("modality=CR&modality=MR", ["P300", "P200"]),              # OR by repeating modality
    ("studydate==~2023/01/01~2024/06/30", ["P100", "P200"]),    # date range
    ("studydate=today&modality=CR", ["P300"]),                  # today
    ("studydate=yesterday", []),
    ("caseid=S26-04711", ["slide"]),
    ("barcode=" + quote("S26-04711 A1"), ["slide"]),
])
def test_a_url_search_with_each_operator_kind_shows_the_matching_studies(
        logged_in: Page, ui: Ui, query: str, expected: list[str]) -> None:
    assert open_list(logged_in, ui, query) == expected


def test_a_bad_url_search_shows_the_parameter_at_fault(logged_in: Page, ui: Ui) -> None:
    logged_in.goto(ui.url("/viewer/#/list?studydate=2018/13/45"))
    expect(logged_in.locator("#results .error")).to_contain_text("'studydate'")


def test_the_form_writes_the_search_into_the_address_and_is_filled_from_it(
        logged_in: Page, ui: Ui) -> None:
    page = logged_in
    page.goto(ui.url("/viewer/#/list"))
    assert shown_patients(page) == ["P300", "slide", "P100", "P200"]
    screenshot(page, "list")
    page.fill("input[name=patientname]", "doe")
    page.fill("input[name=modality]", "CT, MR")
    page.click("#search-form button[type=submit]")
    expect(page.locator("#result-count")).to_have_text("1–1 of 1 study")
    assert page.url.endswith("#/list?patientname=**doe&modality=CT&modality=MR")
    assert shown_patients(page) == ["P100"]
    expect(page.locator("#study-table tbody img.thumb")).to_have_count(1)
    assert page.evaluate("document.querySelector('#study-table tbody img').naturalWidth") > 0
    screenshot(page, "list-search")
    page.reload()
    expect(page.locator("input[name=patientname]")).to_have_value("doe")
    expect(page.locator("input[name=modality]")).to_have_value("CT, MR")
    page.select_option("select[name=when]", "range")
    page.fill("input[name=from]", "2023-01-01")
    page.fill("input[name=to]", "2023-12-31")
    page.fill("input[name=patientname]", "")
    page.fill("input[name=modality]", "")
    page.click("#search-form button[type=submit]")
    expect(page.locator("#result-count")).to_have_text("1–1 of 1 study")
    assert "studydate==~2023/01/01~2023/12/31" in page.url
    assert shown_patients(page) == ["P200"]


def test_clicking_a_header_sorts_and_clicking_again_reverses(logged_in: Page, ui: Ui) -> None:
    page = logged_in
    page.goto(ui.url("/viewer/#/list"))
    shown_patients(page)
    page.click("th[data-sort=patientid]")
    expect(page.locator("th[data-sort=patientid]")).to_have_attribute("aria-sort", "ascending")
    assert shown_patients(page) == ["slide", "P100", "P200", "P300"]
    page.click("th[data-sort=patientid]")
    expect(page.locator("th[data-sort=patientid]")).to_have_attribute("aria-sort", "descending")
    assert shown_patients(page) == ["P300", "P200", "P100", "slide"]


def test_paging_moves_through_the_results(logged_in: Page, ui: Ui) -> None:
    page = logged_in
    assert open_list(page, ui, "sort=patientid&order=asc&limit=3") == ["slide", "P100", "P200"]
    expect(page.locator("#result-count")).to_have_text("1–3 of 4 studies")
    expect(page.locator("#previous-page")).to_be_disabled()
    page.click("#next-page")
    expect(page.locator("#result-count")).to_have_text("4–4 of 4 studies")
    assert shown_patients(page) == ["P300"]
    expect(page.locator("#next-page")).to_be_disabled()
    page.click("#previous-page")
    expect(page.locator("#result-count")).to_have_text("1–3 of 4 studies")


def test_a_study_opens_its_series_and_instances_with_links_into_the_viewer(
        logged_in: Page, archive: tuple[Ui, dict[str, str]]) -> None:
    page, (ui, uids) = logged_in, archive
    open_list(page, ui, "patientid=P200")
    page.click("#study-table tbody tr")
    expect(page.locator("#series-list section.series")).to_have_count(1)
    expect(page.locator(".study-head h1")).to_contain_text("ROE, RICHARD")
    page.click("#series-list summary")
    expect(page.locator("table.instances tbody tr")).to_have_count(2)
    screenshot(page, "study-detail")
    href = page.locator(".series-head a.button").get_attribute("href")
    assert href is not None and href.startswith(f"#/viewer?studyinstanceuid={uids['richard']}")
    page.click("#back-to-list")
    expect(page.locator("#result-count")).to_have_text("1–1 of 1 study")


def test_the_list_fits_a_tablet(browser, ui: Ui) -> None:  # noqa: ANN001
    context = browser.new_context(viewport={"width": 768, "height": 1024}, has_touch=True)
    page = context.new_page()
    try:
        log_in(page, ui)
        assert shown_patients(page) == ["P300", "slide", "P100", "P200"]
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 768, f"the page is {width} px wide on a 768 px tablet"
        screenshot(page, "list-tablet")
    finally:
        context.close()
