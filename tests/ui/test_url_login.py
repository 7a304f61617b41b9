"""Log-ins that arrive in the address (SPEC §7): one-time codes (single use, expiring) and,
when enabled, ``id=…&password=…`` — both removed from the address bar and history."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, urlencode

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from playwright.sync_api import Page, expect

from tests.ui.conftest import ADMIN, ADMIN_PASSWORD, Ui, screenshot, start_ui


def one_time_code(ui: Ui) -> str:
    key = serialization.load_pem_public_key(
        ui.http.get("/viewer/api/otp/").json()["public_key"].encode())
    assert isinstance(key, rsa.RSAPublicKey)
    plain = urlencode({"id": ADMIN, "password": ADMIN_PASSWORD}).encode()
    cipher = key.encrypt(plain, padding.OAEP(mgf=padding.MGF1(hashes.SHA256()),
                                             algorithm=hashes.SHA256(), label=None))
    return base64.urlsafe_b64encode(cipher).rstrip(b"=").decode()


@pytest.fixture
def ui_with_url_login(tmp_path: Path) -> Iterator[Ui]:
    yield from start_ui(tmp_path, url_login=True)


def test_an_otp_code_in_the_address_logs_in_and_leaves_no_trace(page: Page, ui: Ui) -> None:
    code = one_time_code(ui)
    page.goto(ui.url(f"/viewer/#/list?Code={code}&patientid=123"))
    expect(page.locator("#who")).to_have_text(f"{ADMIN} (admin)")
    expect(page.locator("main#view[data-page=list]")).to_be_visible()
    href = page.evaluate("location.href")
    assert code not in href and "Code=" not in href and href.endswith("#/list?patientid=123")
    page.go_back()  # the entry was replaced, not pushed: back leads out of slidepacs
    assert page.url == "about:blank"
    page.go_forward()
    assert code not in page.url and page.url.endswith("#/list?patientid=123")


def test_a_reused_otp_code_is_refused_with_the_reason(page: Page, ui: Ui) -> None:
    code = one_time_code(ui)
    assert ui.http.post("/viewer/api/login", json={"code": code}).status_code == 200
    page.goto(ui.url(f"/viewer/#/list?code={code}"))
    expect(page.locator("#login-form .error >> nth=0")).to_contain_text("used already")
    expect(page.locator("header#top")).to_be_hidden()
    assert code not in page.evaluate("location.href")
    screenshot(page, "login-otp-refused")


def test_an_expired_otp_code_is_refused(page: Page, tmp_path: Path) -> None:
    for ui in start_ui(tmp_path, otp_seconds=5):
        code = one_time_code(ui)
        time.sleep(5.3)
        page.goto(ui.url(f"/viewer/#/list?code={code}"))
        expect(page.locator("#login-form .error >> nth=0")).to_contain_text("expired")
        expect(page.locator("header#top")).to_be_hidden()


def test_id_and_password_in_the_address_log_in_when_enabled_and_are_removed(
        page: Page, ui_with_url_login: Ui) -> None:
    ui = ui_with_url_login
    page.goto(ui.url(f"/viewer/#/list?id={ADMIN}&password={quote(ADMIN_PASSWORD)}"
                     "&modality=CT"))
    expect(page.locator("#who")).to_have_text(f"{ADMIN} (admin)")
    href = page.evaluate("location.href")
    assert "password" not in href and ADMIN not in href.split("#")[1]
    assert href.endswith("#/list?modality=CT")


def test_id_and_password_in_the_address_are_refused_by_default(page: Page, ui: Ui) -> None:
    page.goto(ui.url(f"/viewer/#/list?id={ADMIN}&password={quote(ADMIN_PASSWORD)}"))
    expect(page.locator("#login-form .error >> nth=0")).to_contain_text("http.url_login")
    assert "password" not in page.evaluate("location.href")
