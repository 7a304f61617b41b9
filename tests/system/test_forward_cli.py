"""``slidepacs forward …`` and forwarding at start-up, through the real command, as an
administrator runs them (SQLite and PostgreSQL)."""

from __future__ import annotations

import signal
import subprocess
import threading
from pathlib import Path

import pytest

from tests.cli import (
    SLIDEPACS,
    clean_environment,
    closed_port,
    rest_of_output,
    run_slidepacs,
    scanner_ports_toml,
)

RULES = """
[[forward]]
name = "ct-to-ai"
destination = "AI_NODE"
modality = ["CT", "MR"]
tags = { BodyPartExamined = "CHEST" }
"""


@pytest.fixture
def cwd(tmp_path: Path, database_url: str) -> Path:
    """A folder with a slidepacs.toml: free ports, a data path, the backend, one rule."""
    folder = tmp_path / "cwd"
    folder.mkdir()
    (folder / "slidepacs.toml").write_text(
        f'[dicom]\nport = {closed_port()}\n[slide_receiver]\nport = {closed_port()}\n'
        f'[print]\nport = {closed_port()}\n{scanner_ports_toml()}'
        f'[http]\nport = {closed_port()}\n[storage]\ndata_path = "{tmp_path / "data"}"\n[database]\nurl = "{database_url}"\n'
        + RULES, encoding="utf-8")
    return folder


def _ok(cwd: Path, *args: str) -> str:
    result = run_slidepacs(*args, cwd=cwd)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def _refused(cwd: Path, code: int, *args: str) -> str:
    result = run_slidepacs(*args, cwd=cwd)
    assert result.returncode == code, result.stdout + result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_rules_are_added_listed_and_removed_and_config_rules_are_read_only(cwd: Path) -> None:
    line = _refused(cwd, 1, "forward", "add", "copy", "ARCHIVE2", "--modality", "CT")
    assert line == ("error: destination 'ARCHIVE2' is not a registered AE; register it first "
                    "with `slidepacs ae add`")
    _ok(cwd, "ae", "add", "archive2", "ARCHIVE2", "127.0.0.1", "11114")
    line = _refused(cwd, 1, "forward", "add", "bad", "archive2", "--tag", "StationName")
    assert line == "error: --tag 'StationName': expected KEYWORD=PATTERN"
    added = _ok(cwd, "forward", "add", "copy", "archive2", "--calling-ae", "CT*", "--modality",
                "CT", "--modality", "MR", "--tag", "StationName=re:^CT0[1-3]$")
    assert "Added rule copy: calling AE CT*; modality CT|MR; tag StationName=re:^CT0[1-3]$" \
        in added
    listed = _ok(cwd, "forward", "list")
    assert listed.index("ct-to-ai") < listed.index("copy")
    assert "config file" in listed and "CLI" in listed
    assert "AI_NODE (not registered)" in listed and "ARCHIVE2 (not registered)" not in listed
    assert "modality CT|MR; tag BodyPartExamined=CHEST" in listed
    line = _refused(cwd, 1, "forward", "remove", "ct-to-ai")
    assert line == ("error: rule 'ct-to-ai' is defined in the config file; remove it there and "
                    "restart")
    assert "Removed rule copy." in _ok(cwd, "forward", "remove", "copy")
    assert _refused(cwd, 1, "forward", "remove", "copy") == \
        "error: no forwarding rule is named 'copy'"


def test_status_and_retry_on_an_empty_queue(cwd: Path) -> None:
    assert "The forwarding queue is empty." in _ok(cwd, "forward", "status")
    assert _ok(cwd, "forward", "status", "--json").strip() == "[]"
    assert "0 failed job(s) queued again; 0 waiting job(s) due now." in _ok(
        cwd, "forward", "retry", "--destination", "AI_NODE")


def test_config_show_prints_the_rules_as_toml(cwd: Path) -> None:
    shown = _ok(cwd, "config", "show")
    assert "[forwarding]\nworkers = 4\n" in shown
    assert ('[[forward]]\nname = "ct-to-ai"\ndestination = "AI_NODE"\ncalling_ae_title = []\n'
            'modality = ["CT", "MR"]\nsop_class_uid = []\ntags = { BodyPartExamined = ["CHEST"] }'
            ) in shown


def test_a_bad_rule_stops_every_command_with_one_line_naming_it(cwd: Path) -> None:
    config = cwd / "slidepacs.toml"
    config.write_text(config.read_text().replace('modality = ["CT", "MR"]',
                                                 'modality = ["CT", "re:M[R"]'))
    for command in (("forward", "list"), ("serve",)):
        line = _refused(cwd, 2, *command)
        assert line.startswith('configuration error: forward[1] "ct-to-ai": modality: '
                               "'re:M[R' is not a valid regular expression")
    config.write_text(config.read_text().replace("modality =", "modalities ="))
    line = _refused(cwd, 2, "forward", "list")
    assert line.startswith('configuration error: forward[1] "ct-to-ai": unknown key "modalities"')


def test_serve_warns_about_a_rule_whose_destination_is_not_registered(cwd: Path) -> None:
    process = subprocess.Popen([str(SLIDEPACS), "serve"], cwd=cwd, env=clean_environment(),
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    watchdog = threading.Timer(60, process.kill)
    watchdog.start()
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline()]
        while lines[-1] and "register a DICOM peer" not in lines[-1]:
            lines.append(process.stdout.readline())
        process.send_signal(signal.SIGTERM)
        out = rest_of_output(process, timeout=30)
    finally:
        watchdog.cancel()
        process.kill()
        process.wait()
    shown = "".join(lines) + out
    assert process.returncode == 0, shown
    assert "forwarding    1 rule(s), 4 destination(s) served at once" in shown
    assert ("warning: forwarding rule 'ct-to-ai': destination 'AI_NODE' is not a registered AE; "
            "its instances wait in the queue until it is") in " ".join(shown.split())
    assert "slidepacs stopped." in shown
