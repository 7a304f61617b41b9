"""The event receiver of a real ``slidepacs serve``: plain and TLS lines reach the event log
(errors also the index), util-linux ``logger`` interoperates, bad lines are counted and the
connection survives, connections beyond the limit are refused and counted."""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import time
from pathlib import Path

import pytest

from tests.cli import run_slidepacs
from tests.system.event_receiver import (
    event_ports,
    event_server,
    indexed_events,
    json_line,
    logged_events,
    send,
    wait_for_logged,
)


def test_plain_and_tls_lines_are_logged_and_errors_indexed(tmp_path: Path) -> None:
    with event_server(tmp_path) as server:
        plain, tls = event_ports(server)
        send(plain, json_line(scanner="Lab 1", severity="error", code="QC_FAILED",
                              message="focus", rack=3)
             + json_line(scanner="Lab 1", severity="info", message="slide done"))
        context = ssl.create_default_context(cafile=str(server.data_path / "tls" / "ca.pem"))
        with socket.create_connection(("127.0.0.1", tls), timeout=10) as raw, \
                context.wrap_socket(raw, server_hostname="localhost") as secure:
            secure.sendall(b"<10>1 2026-12-04T06:00:00Z Lab-2 gt450 7 TRAY_JAM - jammed\r\n")
        assert wait_for_logged(server, 3) == 3
        assert server.stop() == 0, server.output
    logged = logged_events(server)
    assert [(e["scanner"], e["severity"], e["format"]) for e in logged[:2]] == [
        ("Lab 1", "error", "json"), ("Lab 1", "info", "json")]
    assert logged[0]["rack"] == 3 and logged[0]["address"] == "127.0.0.1"
    assert logged[2]["code"] == "TRAY_JAM" and logged[2]["severity"] == "critical"
    assert sorted(indexed_events(server)) == [("Lab 1", 3, "QC_FAILED", "focus"),
                                              ("Lab-2", 2, "TRAY_JAM", "jammed")]
    assert f"event receiver tcp://127.0.0.1:{plain} (plain), {tls} (TLS)" in server.output


@pytest.mark.skipif(shutil.which("logger") is None, reason="util-linux logger is missing")
def test_util_linux_logger_over_tcp_interoperates(tmp_path: Path) -> None:
    with event_server(tmp_path) as server:
        plain, _ = event_ports(server)
        for extra in ([], ["--octet-count"], ["--rfc3164"]):
            subprocess.run(["logger", "--tcp", "-n", "127.0.0.1", "-P", str(plain), "-p",
                            "daemon.err", "--msgid", "SCAN_FAIL", *extra,
                            f"scan failed {extra}"], check=True, timeout=30)
        assert wait_for_logged(server, 3) == 3
        assert server.stop() == 0
    logged = logged_events(server)
    assert [e["message"] for e in logged] == [
        "scan failed []", "scan failed ['--octet-count']", "scan failed ['--rfc3164']"]
    assert {e["severity"] for e in logged} == {"error"}
    assert [e["code"] for e in logged] == ["SCAN_FAIL", "SCAN_FAIL", ""]  # 3164 has no MSGID
    assert len(indexed_events(server)) == 3


def test_malformed_and_oversized_lines_are_counted_and_the_connection_survives(
        tmp_path: Path) -> None:
    with event_server(tmp_path, max_line_bytes=256) as server:
        plain, _ = event_ports(server)
        with socket.create_connection(("127.0.0.1", plain), timeout=10) as connection:
            connection.sendall(json_line(message="first") + b"not an event\n"
                               + b'{"message": "' + b"x" * 1000 + b'"}\n'
                               + b"{broken json\n" + b"<13>1 - - - - - -\n")
            time.sleep(0.5)
            connection.sendall(json_line(message="after the bad ones"))
            assert wait_for_logged(server, 3) == 3
            connection.sendall(json_line(message="still open"))
            assert wait_for_logged(server, 4) == 4
        assert server.stop() == 0
    assert [e["message"] for e in logged_events(server)] == [
        "first", "", "after the bad ones", "still open"]
    log = (server.data_path / "logs" / "slidepacs.log").read_text()
    assert "malformed line (a line must start with '{' (JSON) or '<' (syslog)): b'not an event'" \
        in log
    assert "a line longer than 256 bytes was dropped" in log
    assert "4 event(s) received, 4 logged, 0 stored in the index" in log
    assert "2 malformed, 1 oversized" in log


def test_connections_beyond_the_limit_are_refused_and_counted(tmp_path: Path) -> None:
    with event_server(tmp_path, max_connections=2) as server:
        plain, _ = event_ports(server)
        first = socket.create_connection(("127.0.0.1", plain), timeout=10)
        second = socket.create_connection(("127.0.0.1", plain), timeout=10)
        first.sendall(json_line(message="one"))
        second.sendall(json_line(message="two"))
        assert wait_for_logged(server, 2) == 2
        with socket.create_connection(("127.0.0.1", plain), timeout=10) as third:
            assert third.recv(10) == b""  # closed at once
        first.close()
        time.sleep(0.3)
        send(plain, json_line(message="after one closed"))
        assert wait_for_logged(server, 3) == 3
        second.close()
        assert server.stop() == 0
    log = (server.data_path / "logs" / "slidepacs.log").read_text()
    assert "refused 1 connection(s)" in log and "1 refused" in log


def test_an_idle_connection_is_closed(tmp_path: Path) -> None:
    with event_server(tmp_path, idle_seconds=1) as server:
        plain, _ = event_ports(server)
        with socket.create_connection(("127.0.0.1", plain), timeout=10) as connection:
            started = time.monotonic()
            assert connection.recv(10) == b""
            assert 0.8 < time.monotonic() - started < 5
        assert server.stop() == 0


def test_a_failed_tls_handshake_is_logged_and_the_receiver_goes_on(tmp_path: Path) -> None:
    with event_server(tmp_path) as server:
        plain, tls = event_ports(server)
        send(tls, b"this is not a TLS client hello\n" * 10)
        time.sleep(0.5)
        send(plain, json_line(message="still up"))
        assert wait_for_logged(server, 1) == 1
        assert server.stop() == 0
    log = (server.data_path / "logs" / "slidepacs.log").read_text()
    assert "TLS handshake with 127.0.0.1 failed" in log and "1 TLS failure(s)" in log


def test_an_event_port_in_use_stops_start_up_naming_it(tmp_path: Path) -> None:
    server = event_server(tmp_path)
    plain, _ = event_ports(server)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", plain))
        taken.listen()
        result = run_slidepacs("serve", cwd=server.cwd, timeout=90)
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.startswith(f"configuration error: events.port: cannot listen on "
                                    f"127.0.0.1:{plain}"), result.stderr
    assert "slidepacs is running" not in result.stdout
