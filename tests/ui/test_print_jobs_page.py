"""Print jobs in the browser: a film printed over DICOM shows in the admin pages with its
preview, PNG and PDF."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from playwright.sync_api import Page, expect

from slidepacs.bootstrap import build_print_server
from tests.protocol.conftest import free_port
from tests.protocol.test_print_server import (
    RunningPrinter,
    associate,
    box_uids,
    create_film,
    create_session,
    grey_item,
    print_film,
    set_box,
)
from tests.ui.conftest import Ui, log_in, screenshot, start_ui


def test_a_printed_film_is_listed_with_its_preview_and_files(page: Page, tmp_path: Path) -> None:
    port = free_port()
    for ui in start_ui(tmp_path):
        _print_one_film(ui, port)
        log_in(page, ui, hash_route="#/admin/print")
        row = page.locator("#print-jobs tbody tr")
        expect(row).to_have_count(1)
        expect(row).to_contain_text("MODALITY")
        expect(row).to_contain_text("DONE")
        expect(row).to_contain_text("8INX10IN")
        preview = row.locator("img.thumb")
        expect(preview).to_be_visible()
        page.wait_for_function("(img) => img.complete && img.naturalWidth > 0",
                               arg=preview.element_handle())
        pdf = row.locator("a", has_text="PDF").get_attribute("href")
        assert pdf is not None
        answer = page.request.get(ui.url(pdf))
        assert answer.status == 200 and answer.body().startswith(b"%PDF")
        screenshot(page, "admin-print")


def _print_one_film(ui: Ui, port: int) -> None:
    """Print a one-box greyscale film to the archive's print listener."""
    settings = ui.app.settings.model_copy(update={"print": ui.app.settings.print.model_copy(
        update={"port": port})})
    ui.app.settings = settings  # the print listener on a free port
    ui.app.registry.add("modality", "MODALITY", "127.0.0.1", 104)
    server = build_print_server(ui.app)
    server.start()
    try:
        printer = RunningPrinter(ui.app, port, settings.print.ae_title)
        assoc = associate(printer)
        try:
            session = create_session(assoc)
            status, reply = create_film(assoc, session, ImageDisplayFormat="STANDARD\\1,1",
                                        FilmSizeID="8INX10IN")
            assert status.Status == 0x0000
            pixels = np.tile(np.arange(64, dtype=np.uint8) * 4, (64, 1))
            assert set_box(assoc, box_uids(reply)[0], 1, grey_item(pixels)) == 0x0000
            assert print_film(assoc, status.AffectedSOPInstanceUID)[0] == 0x0000
        finally:
            assoc.release()
    finally:
        server.stop()
