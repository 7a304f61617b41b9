"""The Scanners admin page in Chromium: the list shows a registered scanner with its status,
a scanner added in the page shows its token once, and the per-scanner Images page shows every
setting with its help, shows the server's reason for a bad regular expression (nothing saved)
and saves a good change, with screenshots."""

from __future__ import annotations

from datetime import datetime, timezone

from playwright.sync_api import Page, expect

from slidepacs.domain.scanners import IMAGE_FIELDS
from slidepacs.services.scanners import NewScanner
from tests.ui.conftest import ADMIN, Ui, log_in, screenshot


def test_the_list_shows_scanners_with_status_and_an_added_one_gets_its_token_once(
        page: Page, ui: Ui) -> None:
    token = ui.app.scanners.register(NewScanner("Lab 1", "GT450_LAB1", model="GT 450"))[1]
    scanner = ui.app.scanners.authenticate(token, "10.0.0.5")
    ui.app.scanners.heartbeat(scanner, {"time": datetime.now(timezone.utc).isoformat(),
                                        "serial": "GT450-0001", "software_version": "1.2.1"})
    log_in(page, ui, hash_route="#/admin/scanners")
    row = page.locator('tr[data-scanner="Lab 1"]')
    expect(row).to_contain_text("GT450-0001")
    expect(row).to_contain_text("1.2.1")
    expect(row.locator(".badge")).to_have_text("ONLINE")

    page.fill("#scanner-form input[name=name]", "Lab 2")
    page.fill("#scanner-form input[name=ae_title]", "GT450_LAB2")
    page.click("#scanner-form button[type=submit]")
    secret = page.locator("#scanner-token code.secret")
    expect(secret).to_have_count(1)
    expect(page.locator('tr[data-scanner="Lab 2"] .badge')).to_have_text("OFFLINE")  # never heard
    assert ui.app.scanners.authenticate(secret.inner_text()).name == "Lab 2"
    screenshot(page, "admin-scanners")
    assert ui.app.audit.recent(1, action="scanner.add")[0].actor == ADMIN


def test_the_images_page_shows_every_setting_with_help_refuses_a_bad_regex_and_saves(
        page: Page, ui: Ui) -> None:
    ui.app.scanners.register(NewScanner("Lab 1", "GT450_LAB1"))
    log_in(page, ui, hash_route="#/admin/scanners")
    page.locator('tr[data-scanner="Lab 1"] a.button').click()
    form = page.locator("#images-form")
    for field in IMAGE_FIELDS:
        setting = form.locator(f'.setting[data-field="{field}"]')
        expect(setting.locator(".field-help")).not_to_be_empty()
        expect(setting.locator(f'[name="{field}"]')).to_have_count(1)
    expect(form.locator("[name=image_filename_format]")).to_have_value("{IMAGEID}-{BARCODEID}")
    version = page.locator("#images-version").inner_text()

    form.locator("[name=barcode_value_identifier]").fill("([0-9]")
    form.locator("button[type=submit]").click()
    error = page.locator("#images-error")
    expect(error).to_contain_text("barcode_value_identifier: '([0-9]' is not a valid "
                                  "regular expression")
    assert ui.app.scanners.images("Lab 1").rules.barcode_regex == ""
    screenshot(page, "admin-scanner-images-error")

    form.locator("[name=barcode_value_identifier]").fill(r"S\d{2}-\d+")
    form.locator("[name=dimension_organization]").select_option("SPARSE")
    form.locator("[name=require_barcode_id]").check()
    form.locator("button[type=submit]").click()
    expect(page.locator("#images-saved")).to_be_visible()
    expect(error).to_be_hidden()
    assert page.locator("#images-version").inner_text() != version
    saved = ui.app.scanners.images("Lab 1").rules
    assert (saved.barcode_regex, saved.organization, saved.require_barcode) == (
        r"S\d{2}-\d+", "sparse", True)
    page.reload()
    expect(page.locator("#images-form [name=barcode_value_identifier]")).to_have_value(
        r"S\d{2}-\d+")
    screenshot(page, "admin-scanner-images")
