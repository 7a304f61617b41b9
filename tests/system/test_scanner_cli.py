"""``slidepacs scanner …`` through the real command, as an administrator runs it (SQLite and
PostgreSQL), and ``slidepacs serve`` answering on the scanner API's HTTPS port."""

from __future__ import annotations

import json
import re
import ssl
from pathlib import Path

import httpx
import pytest

from slidepacs.config import load_settings
from tests.cli import run_slidepacs, slidepacs_output, toml_config
from tests.serve_process import ServeProcess

_TOKEN = re.compile(r"token: (\S+)")


@pytest.fixture
def cwd(tmp_path: Path, database_url: str) -> Path:
    """A folder with a slidepacs.toml on the backend under test."""
    return toml_config(tmp_path / "cwd", tmp_path / "data", database_url=database_url).parent


def _ok(cwd: Path, *args: str) -> str:
    return slidepacs_output(*args, cwd=cwd)


def test_scanner_add_list_show_images_token_and_remove(cwd: Path) -> None:
    added = _ok(cwd, "scanner", "add", "Lab 1", "--ae", "GT450_LAB1", "--model", "GT 450",
                "--serial", "0001")
    assert "Registered scanner Lab 1 (AE GT450_LAB1)" in added
    token = _TOKEN.search(added).group(1)  # type: ignore[union-attr]
    assert len(token) >= 40
    listed = _ok(cwd, "scanner", "list")
    assert "Lab 1" in listed and "GT450_LAB1" in listed and "OFFLINE" in listed
    assert json.loads(_ok(cwd, "scanner", "list", "--json"))[0]["serial"] == "0001"
    shown = _ok(cwd, "scanner", "show", "lab 1")
    assert "status: OFFLINE" in shown and "image_output_format: DICOM" in shown
    saved = _ok(cwd, "scanner", "images", "Lab 1", "--barcode-identifier", r"S\d+",
                "--output-format", "SVS", "--file-location", "/srv/svs", "--organization",
                "sparse", "--require-barcode", "--port", "11112")
    assert "saved (configuration version 3)" in saved  # settings 1 -> 2, rules 0 -> 1
    for line in (r"barcode_value_identifier: S\d+", "image_output_format: SVS",
                 "dimension_organization: SPARSE", "require_barcode_id: yes", "port: 11112"):
        assert line in saved
    bad = run_slidepacs("scanner", "images", "Lab 1", "--barcode-modifier", "(", cwd=cwd)
    assert bad.returncode == 1 and len(bad.stderr.splitlines()) == 1
    assert "barcode_value_modifier: '(' is not a valid regular expression" in bad.stderr
    assert r"barcode_value_identifier: S\d+" in _ok(cwd, "scanner", "images", "Lab 1")
    renewed = _TOKEN.search(_ok(cwd, "scanner", "token", "Lab 1")).group(1)  # type: ignore[union-attr]
    assert renewed != token
    assert "Removed scanner Lab 1" in _ok(cwd, "scanner", "remove", "Lab 1")
    gone = run_slidepacs("scanner", "show", "Lab 1", cwd=cwd)
    assert gone.returncode == 1 and "no scanner 'Lab 1'" in gone.stderr
    audit = _ok(cwd, "audit")
    for action in ("scanner.add", "scanner.images", "scanner.token", "scanner.remove"):
        assert action in audit


def test_serve_prints_the_scanner_api_and_answers_on_its_port(tmp_path: Path) -> None:
    server = ServeProcess(tmp_path / "cwd", tmp_path / "data")
    token = _TOKEN.search(_ok(server.cwd, "scanner", "add", "Lab 1", "--ae",  # type: ignore[union-attr]
                              "GT450_LAB1")).group(1)
    settings = load_settings(server.cwd / "slidepacs.toml")
    port = settings.scanner_api.port
    with server:
        assert server.process is not None and server.process.stdout is not None
        lines = [server.process.stdout.readline() for _ in range(12)]
        root = f"https://127.0.0.1:{port}/api/v1"
        assert any(line.strip() == f"scanner API   {root}" for line in lines), lines
        context = ssl.create_default_context(cafile=str(settings.tls_folder / "ca.pem"))
        with httpx.Client(base_url=root, verify=context, timeout=30) as client:
            config = client.get("/config", headers={"Authorization": f"Bearer {token}"})
            refused = client.get("/config", headers={"Authorization": "Bearer nope"})
        assert config.status_code == 200 and config.json()["scanner"] == "Lab 1"
        assert refused.status_code == 401
        assert server.stop() == 0
