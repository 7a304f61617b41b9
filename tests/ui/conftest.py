"""The browser UI in real headless Chromium (Debian's ``/usr/bin/chromium``) driven by
Playwright, against a running slidepacs HTTP front on SQLite (the API tests cover PostgreSQL)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from slidepacs.bootstrap import AppContext
from tests.web.conftest import start_web

CHROMIUM = "/usr/bin/chromium"
# `make screenshots` refreshes the committed ones; plain test runs keep the work tree clean
SCREENSHOTS = (Path(__file__).resolve().parents[2] / "docs" / "screenshots"
               if os.environ.get("SLIDEPACS_SCREENSHOTS")
               else Path(tempfile.gettempdir()) / "slidepacs-screenshots")
ADMIN, ADMIN_PASSWORD = "chief", "correct horse battery"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--disable-dev-shm-usage"]


@dataclass
class Ui:
    """A running archive with an admin account, its base URL, and an HTTP client."""

    app: AppContext
    base: str
    http: httpx.Client

    def url(self, path: str) -> str:
        """An absolute URL on the front."""
        return self.base + path


def start_ui(tmp_path: Path, **http: Any) -> Iterator[Ui]:
    """A fresh archive (SQLite) with the admin account ``chief`` (no forced change)."""
    for web in start_web(tmp_path, "", **http):
        web.app.accounts.add(ADMIN, "admin", ADMIN_PASSWORD)
        base = web.root.removesuffix("/dicom-web")
        with httpx.Client(base_url=base, timeout=60) as client:
            yield Ui(web.app, base, client)


@pytest.fixture
def ui(tmp_path: Path) -> Iterator[Ui]:
    """The front with default settings."""
    yield from start_ui(tmp_path)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """One headless Chromium for the whole run."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: make test installs Debian's chromium")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A new page in a fresh browser context (no cookies), 1280×800, that fails the test on
    any uncaught script error."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    yield tab
    context.close()
    assert not errors, f"script errors in the page: {errors}"


def log_in(page: Page, ui: Ui, username: str = ADMIN, password: str = ADMIN_PASSWORD,
           hash_route: str = "#/list") -> None:
    """Log in through the form, landing on ``hash_route``."""
    page.goto(ui.url(f"/viewer/{hash_route}"))
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_selector("header#top:not([hidden])")


def screenshot(page: Page, name: str) -> Path:
    """Save the page as <name>.png: in docs/screenshots with SLIDEPACS_SCREENSHOTS=1 (make
    screenshots), else in a temporary folder."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=False)
    return path
