"""The admin pages in Chromium: adding an AE and echoing it against a real DICOM peer (dcmtk's
storescp), accounts, the dashboard's counts, forwarding and the audit log, with screenshots."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from slidepacs.domain.forwarding import RuleSpec
from slidepacs.services.importer import ImportItem
from slidepacs.testing.generators import write_ct_series
from slidepacs.testing.orthanc import free_port
from tests.protocol.test_forwarding import StoreScp
from tests.ui.conftest import ADMIN, Ui, log_in, screenshot


@pytest.fixture
def peer(tmp_path: Path) -> Iterator[StoreScp]:
    """dcmtk's storescp listening on a free port."""
    scp = StoreScp(tmp_path / "peer", "PEERSCP")
    scp.start()
    yield scp
    scp.stop()


def accept_dialogs(page: Page) -> None:
    page.on("dialog", lambda dialog: dialog.accept())


def test_an_ae_added_in_the_page_is_echoed_and_a_closed_port_fails(page: Page, ui: Ui,
                                                                   peer: StoreScp) -> None:
    accept_dialogs(page)
    log_in(page, ui, hash_route="#/admin/dicom")
    expect(page.locator("#provider-table")).to_contain_text(ui.app.settings.dicom.ae_title)
    page.fill("#ae-form input[name=name]", "peer")
    page.fill("#ae-form input[name=ae_title]", "PEERSCP")
    page.fill("#ae-form input[name=host]", "127.0.0.1")
    page.fill("#ae-form input[name=port]", str(peer.port))
    page.click("#ae-form button[type=submit]")
    row = page.locator("tr[data-ae=peer]")
    expect(row).to_contain_text("PEERSCP")
    assert [ae.port for ae in ui.app.registry.list()] == [peer.port]
    row.locator("button.echo").click()
    expect(row.locator(".echo-result")).to_have_text(re.compile(r"success in \d+ ms"))
    expect(row.locator(".echo-result")).to_have_class(re.compile(r"\bok\b"))
    assert peer.associations() == 1  # the echo really reached storescp

    page.fill("#ae-form input[name=name]", "closed")
    page.fill("#ae-form input[name=ae_title]", "CLOSED")
    page.fill("#ae-form input[name=host]", "127.0.0.1")
    page.fill("#ae-form input[name=port]", str(free_port()))
    page.click("#ae-form button[type=submit]")
    closed = page.locator("tr[data-ae=closed]")
    closed.locator("button.echo").click()
    expect(closed.locator(".echo-result")).to_have_text(re.compile(r"no association.*after \d+ ms"))
    expect(closed.locator(".echo-result")).to_have_class(re.compile(r"\berror\b"))
    expect(row.locator(".echo-result")).to_contain_text("success")  # kept across reloads
    screenshot(page, "admin-dicom")

    closed.locator("button.remove").click()
    expect(closed).to_have_count(0)
    assert [ae.name for ae in ui.app.registry.list()] == ["peer"]
    assert ui.app.audit.recent(1, action="ae.remove")[0].actor == ADMIN


def test_a_bad_ae_shows_the_reason_inline_and_adds_nothing(page: Page, ui: Ui) -> None:
    log_in(page, ui, hash_route="#/admin/dicom")
    page.fill("#ae-form input[name=name]", "bad")
    page.fill("#ae-form input[name=ae_title]", "BAD")
    page.fill("#ae-form input[name=host]", "not a host!")
    page.click("#ae-form button[type=submit]")
    expect(page.locator("#ae-error")).to_contain_text("host:")
    assert ui.app.registry.list() == []


def test_an_account_is_added_and_its_password_reset(page: Page, ui: Ui) -> None:
    accept_dialogs(page)
    log_in(page, ui, hash_route="#/admin/accounts")
    page.fill("#account-form input[name=username]", "newbie")
    page.select_option("#account-form select[name=role]", "lab_admin")
    page.click("#account-form button[type=submit]")
    secret = page.locator("#account-secret code.secret")
    expect(secret).to_be_visible()
    first = secret.inner_text()
    assert ui.app.accounts.authenticate("newbie", first).role.value == "lab_admin"
    row = page.locator("tr[data-user=newbie]")
    expect(row).to_contain_text("yes")  # must change the password
    row.locator("button.reset").click()
    expect(page.locator("#account-secret")).to_contain_text("New one-time password")
    second = page.locator("#account-secret code.secret").inner_text()
    assert second != first
    assert ui.app.accounts.authenticate("newbie", second).must_change_password
    screenshot(page, "admin-accounts")
    # the last admin cannot be removed: the reason is shown
    page.locator(f"tr[data-user={ADMIN}] button.remove").click()
    expect(page.locator("#account-error")).to_contain_text("last admin")
    assert ui.app.accounts.get(ADMIN) is not None


def test_the_dashboard_shows_the_counts_and_the_last_hour(page: Page, ui: Ui,
                                                          tmp_path: Path) -> None:
    paths = write_ct_series(tmp_path / "ct", 4, size=64)
    ui.app.importer.run([ImportItem(p, p.parent) for p in paths])
    ui.http.post("/viewer/api/login", json={"username": "intruder", "password": "guess 1"})
    log_in(page, ui, hash_route="#/admin")
    expect(page.locator("[data-stat=instances] b")).to_have_text("4")
    expect(page.locator("[data-stat=studies] b")).to_have_text("1")
    expect(page.locator("[data-stat=last-hour] b")).to_have_text("4")
    expect(page.locator("#dashboard-locations tbody tr")).to_have_count(1)
    expect(page.locator("#dashboard-errors tbody tr").first).to_contain_text("intruder")
    screenshot(page, "admin-dashboard")


def test_storage_forwarding_and_audit_tabs(page: Page, ui: Ui, tmp_path: Path) -> None:
    accept_dialogs(page)
    ui.app.registry.add("archive-2", "ARCHIVE2", "127.0.0.1", free_port())
    ui.app.forwarding.rules.add(RuleSpec("every-ct", "archive-2", modality=("CT",)))
    paths = write_ct_series(tmp_path / "ct", 2, size=64)
    ui.app.importer.run([ImportItem(p, p.parent) for p in paths])
    for job in ui.app.forwarding.claim("ARCHIVE2", 10):  # as the worker would: the peer is down
        ui.app.forwarding.fail(job, "association refused")
    log_in(page, ui, hash_route="#/admin/storage")
    expect(page.locator("tr[data-location=data]")).to_contain_text(str(ui.app.store.locations[0]))
    expect(page.locator("tr[data-location=data] td").nth(2)).to_have_text("2")
    expect(page.locator("#storage-verify")).to_contain_text("slidepacs storage verify")
    screenshot(page, "admin-storage")

    page.click("#admin-tabs a[data-tab=forwarding]")
    page.fill("#rule-form input[name=name]", "ct-to-archive")
    page.fill("#rule-form input[name=modality]", "CT")
    page.fill("#rule-form input[name=tags]", "BodyPartExamined=CHEST")
    page.click("#rule-form button[type=submit]")
    expect(page.locator("tr[data-rule=ct-to-archive]")).to_contain_text("modality CT")
    page.fill("#rule-form input[name=name]", "broken")
    page.fill("#rule-form input[name=sop_class_uid]", "x.y")
    page.click("#rule-form button[type=submit]")
    expect(page.locator("#rule-error")).to_contain_text("sop_class_uid:")
    assert [rule.name for rule in ui.app.forwarding.rules.all()] == ["ct-to-archive", "every-ct"]
    queued = page.locator("tr[data-destination=ARCHIVE2]")
    expect(queued).to_contain_text("association refused")
    screenshot(page, "admin-forwarding")
    queued.locator("button.retry").click()
    expect(page.locator("#queue-notice")).to_contain_text("2 waiting job(s) are due now")
    entry = ui.app.audit.recent(1, action="forward.retry")[0]
    assert (entry.actor, entry.target) == (ADMIN, "ARCHIVE2")

    page.click("#admin-tabs a[data-tab=audit]")
    expect(page.locator("#audit-table")).to_contain_text("forward.rule.add")
    page.fill("#audit-form input[name=action]", "login")
    page.click("#audit-form button[type=submit]")
    expect(page).to_have_url(re.compile(r"#/admin/audit\?action=login$"))
    expect(page.locator("#audit-table tbody tr")).to_have_count(1)
    expect(page.locator("#audit-table tbody")).to_contain_text(ADMIN)
    page.click("#audit-clear")
    screenshot(page, "admin-audit")


def test_a_lab_admin_sees_no_accounts_or_audit_tab(page: Page, ui: Ui) -> None:
    ui.app.accounts.add("labby", "lab_admin", "lab admin password")
    log_in(page, ui, "labby", "lab admin password", hash_route="#/admin")
    expect(page.locator("#admin-tabs a")).to_have_text(
        ["Dashboard", "DICOM", "Storage", "Forwarding", "Print jobs", "Scanners"])
    page.goto(ui.url("/viewer/#/admin/accounts"))
    expect(page.locator("#admin-tab .error")).to_contain_text("may not use this page")
