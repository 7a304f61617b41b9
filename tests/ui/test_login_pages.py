"""Log-in in the browser: the form, the forced password change at first log-in, log-out."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.ui.conftest import ADMIN, Ui, log_in, screenshot


def test_first_log_in_forces_a_password_change_then_opens_the_study_list(page: Page,
                                                                          ui: Ui) -> None:
    initial = ui.app.accounts.add("newcomer", "user")  # random password, must change
    assert initial is not None
    page.goto(ui.url("/viewer/"))
    expect(page.locator("#login-form")).to_be_visible()
    screenshot(page, "login")
    page.fill("input[name=username]", "newcomer")
    page.fill("input[name=password]", initial)
    page.click("button[type=submit]")
    expect(page.locator("#password-form")).to_be_visible()
    expect(page.locator(".notice")).to_contain_text("must choose a new password")
    # the study list stays out of reach until the password is changed
    page.goto(ui.url("/viewer/#/list"))
    expect(page.locator("#password-form")).to_be_visible()
    screenshot(page, "password-change")
    page.fill("input[name=old]", initial)
    page.fill("input[name=new]", "a much better passphrase")
    page.fill("input[name=again]", "a much better passphrase")
    page.click("button[type=submit]")
    expect(page.locator("main#view[data-page=list]")).to_be_visible()
    expect(page.locator("#who")).to_have_text("newcomer (user)")
    account = ui.app.accounts.get("newcomer")
    assert account is not None and not account.must_change_password
    # the old password no longer works, the new one does
    page.click("#logout")
    expect(page.locator("#login-form")).to_be_visible()
    log_in(page, ui, "newcomer", "a much better passphrase")
    expect(page.locator("main#view[data-page=list]")).to_be_visible()


def test_a_wrong_password_shows_the_reason_and_logs_nobody_in(page: Page, ui: Ui) -> None:
    page.goto(ui.url("/viewer/#/list"))
    page.fill("input[name=username]", ADMIN)
    page.fill("input[name=password]", "not the password at all")
    page.click("button[type=submit]")
    expect(page.locator("#login-error")).to_have_text("wrong user name or password")
    expect(page.locator("header#top")).to_be_hidden()
    assert [e.action for e in ui.app.audit.recent(actor=ADMIN)][:1] == ["login.failed"]


def test_the_admin_link_shows_only_for_admin_roles(page: Page, ui: Ui) -> None:
    ui.app.accounts.add("reader", "user", "reader password 1")
    log_in(page, ui, "reader", "reader password 1")
    expect(page.locator("header a[data-route=admin]")).to_be_hidden()
    page.click("#logout")
    log_in(page, ui)
    expect(page.locator("header a[data-route=admin]")).to_be_visible()
