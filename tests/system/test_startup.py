"""Start-up as an administrator sees it: the real ``slidepacs`` command in a temporary folder.

A bad setting must stop start-up with exactly one line on stderr naming the setting and a
non-zero exit code; ``config show`` prints the effective configuration without secrets.
"""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest

from tests.cli import (
    SLIDEPACS,
    clean_environment,
    closed_port,
    rest_of_output,
    run_slidepacs,
    scanner_ports_toml,
)


@pytest.fixture
def cwd(tmp_path: Path) -> Path:
    folder = tmp_path / "cwd"
    folder.mkdir()
    return folder


def _assert_refused(result: subprocess.CompletedProcess[str], setting: str) -> str:
    """Start-up stopped with one ``configuration error: <setting>: …`` line; return it."""
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"configuration error: {setting}: "), lines[0]
    assert "slidepacs is running" not in result.stdout
    return lines[0]


def test_serve_starts_with_valid_settings_and_stops_on_sigterm(cwd: Path) -> None:
    http_port = closed_port()
    (cwd / "slidepacs.toml").write_text(
        f'[dicom]\nport = {closed_port()}\n[slide_receiver]\nport = {closed_port()}\n'
        f'[print]\nport = {closed_port()}\n{scanner_ports_toml()}'
        f'[http]\nport = {http_port}\n[storage]\ndata_path = "./archive"\n')
    process = subprocess.Popen([str(SLIDEPACS), "serve"], cwd=cwd, env=clean_environment(),
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    watchdog = threading.Timer(60, process.kill)  # a hung start-up fails instead of hanging
    watchdog.start()
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert "slidepacs is running" in first
        studies = httpx.get(f"http://127.0.0.1:{http_port}/dicom-web/studies", timeout=30)
        assert (studies.status_code, studies.json()) == (200, [])
        process.send_signal(signal.SIGTERM)
        out = rest_of_output(process, timeout=30)
    finally:
        watchdog.cancel()
        process.kill()
        process.wait()
    assert process.returncode == 0, out
    assert "slidepacs stopped." in out
    assert "SVS_STORE_SCP" in out and "(TLS)" in out
    assert "print server  SLIDEPACS_PRINT on 127.0.0.1:" in out  # print.enabled by default
    assert f"DICOMweb      http://127.0.0.1:{http_port}/dicom-web" in out
    assert f"browser UI    http://127.0.0.1:{http_port}/viewer/" in out
    assert (cwd / "archive" / "index.sqlite").is_file()
    assert (cwd / "archive" / "tls" / "ca.pem").is_file()  # lab PKI created on first start
    # the first account: a random password, shown once, stored as a hash only
    [password] = re.findall(r"created the account 'admin' with password (\S+)", out)
    assert len(password) >= 16
    assert password.encode() not in (cwd / "archive" / "index.sqlite").read_bytes()
    listed = run_slidepacs("user", "list", cwd=cwd).stdout
    assert "admin" in listed and "must change password" in listed


def test_unknown_key_stops_start_up(cwd: Path) -> None:
    (cwd / "slidepacs.toml").write_text('[dicom]\nae_titel = "X"\n')
    line = _assert_refused(run_slidepacs("serve", cwd=cwd), "dicom.ae_titel")
    assert "unknown setting" in line


def test_bad_port_stops_start_up(cwd: Path) -> None:
    (cwd / "slidepacs.toml").write_text("[http]\nport = 70000\n")
    line = _assert_refused(run_slidepacs("serve", cwd=cwd), "http.port")
    assert "70000" in line


def test_bad_port_from_environment_stops_start_up_naming_the_variable(cwd: Path) -> None:
    result = run_slidepacs("serve", cwd=cwd, env={"SLIDEPACS_DICOM__PORT": "0"})
    line = _assert_refused(result, "dicom.port")
    assert "SLIDEPACS_DICOM__PORT" in line


def test_data_path_under_a_regular_file_stops_start_up(cwd: Path) -> None:
    (cwd / "a-file").write_text("not a folder")
    (cwd / "slidepacs.toml").write_text('[storage]\ndata_path = "./a-file/data"\n')
    line = _assert_refused(run_slidepacs("serve", cwd=cwd), "storage.data_path")
    assert "a-file/data is not writable" in line


def test_unwritable_backup_path_stops_start_up_and_names_which_one(cwd: Path) -> None:
    (cwd / "slidepacs.toml").write_text(
        '[storage]\ndata_path = "./data"\nbackup_paths = ["./b1", "/proc/slidepacs-backup"]\n')
    line = _assert_refused(run_slidepacs("serve", cwd=cwd), "storage.backup_paths[2]")
    assert "/proc/slidepacs-backup is not writable" in line


def test_dicom_port_already_in_use_stops_start_up(cwd: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        (cwd / "slidepacs.toml").write_text(f"[dicom]\nport = {port}\n")
        line = _assert_refused(run_slidepacs("serve", cwd=cwd), "dicom.port")
    assert f"cannot listen on 127.0.0.1:{port}" in line


def test_http_port_already_in_use_stops_start_up(cwd: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        (cwd / "slidepacs.toml").write_text(
            f"[dicom]\nport = {closed_port()}\n[slide_receiver]\nenabled = false\n"
            f"[print]\nport = {closed_port()}\n{scanner_ports_toml()}[http]\nport = {port}\n")
        line = _assert_refused(run_slidepacs("serve", cwd=cwd), "http.port")
    assert f"cannot listen on 127.0.0.1:{port}" in line


def test_unreachable_database_stops_start_up_without_showing_the_password(cwd: Path) -> None:
    url = f"postgresql://pacs:hunter2@127.0.0.1:{closed_port()}/pacs"
    (cwd / "slidepacs.toml").write_text(f'[database]\nurl = "{url}"\n')
    line = _assert_refused(run_slidepacs("serve", cwd=cwd, timeout=60), "database.url")
    assert "cannot connect to the index database" in line
    assert "hunter2" not in line and "pacs:***@127.0.0.1" in line


@pytest.mark.parametrize("url", ["mysql://pacs:pw@db/pacs", "not a url",
                                 "sqlite:////proc/slidepacs/index.sqlite"])
def test_unusable_database_url_stops_start_up_with_one_line(cwd: Path, url: str) -> None:
    (cwd / "slidepacs.toml").write_text(f'[database]\nurl = "{url}"\n')
    _assert_refused(run_slidepacs("stats", cwd=cwd), "database.url")


def test_malformed_config_file_stops_start_up(cwd: Path) -> None:
    (cwd / "slidepacs.toml").write_text("[storage\n")
    line = _assert_refused(run_slidepacs("serve", cwd=cwd), "config file")
    assert "is not valid TOML" in line


def test_config_show_prints_effective_configuration_with_password_masked(cwd: Path) -> None:
    (cwd / "custom.toml").write_text(
        '[dicom]\nae_title = "ARCHIVE1"\n'
        '[storage]\ndata_path = "/srv/pacs"\nbackup_paths = ["/mnt/b1"]\n'
        '[database]\nurl = "postgresql://pacs:hunter2@db.example/pacs"\n')
    result = run_slidepacs("config", "show", cwd=cwd, env={
        "SLIDEPACS_CONFIG": str(cwd / "custom.toml"), "SLIDEPACS_HTTP__PORT": "9042"})
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "hunter2" not in out
    for expected in ('[dicom]', 'ae_title = "ARCHIVE1"', "[http]", "port = 9042",
                     "[storage]", 'data_path = "/srv/pacs"', 'backup_paths = ["/mnt/b1"]',
                     "[database]", 'url = "postgresql://pacs:***@db.example/pacs"',
                     'path = "/srv/pacs/logs"', "[character_set]", 'default = "ISO_IR 192"'):
        assert expected in out.splitlines(), f"{expected!r} missing from:\n{out}"


def test_config_show_json_is_machine_readable(cwd: Path) -> None:
    result = run_slidepacs("config", "show", "--json", cwd=cwd)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["dicom"]["port"] == 11112
    assert data["database"]["url"] == f"sqlite:///{(cwd / 'data' / 'index.sqlite').resolve()}"


def test_cli_start_up_loads_no_index_network_or_service_modules(cwd: Path) -> None:
    """Commands that need no index (convert, config show, --help) start quickly: importing
    the CLI must not load SQLAlchemy, pynetdicom or the bootstrap wiring of the services."""
    heavy = ("sqlalchemy", "pynetdicom", "slidepacs.bootstrap")
    code = (f"import sys, slidepacs.cli.main; "
            f"print(sorted(m for m in {heavy!r} if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], cwd=cwd, env=clean_environment(),
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]", f"imported at CLI start-up: {result.stdout.strip()}"


def test_config_show_never_touches_storage_or_database(cwd: Path) -> None:
    (cwd / "slidepacs.toml").write_text(
        f'[database]\nurl = "postgresql://pacs:pw@127.0.0.1:{closed_port()}/pacs"\n')
    result = run_slidepacs("config", "show", cwd=cwd)
    assert result.returncode == 0, result.stderr
    assert not (cwd / "data").exists()
