"""An event flood against a real ``slidepacs serve``: several connections send 240,000 lines
as fast as they can into a small queue. The server's memory high-water mark (VmHWM), and its
resident memory polled while the senders run, rise by less than 60 MB over the warmed-up
baseline; every line is in the event log, the errors are in the index, the counters add up,
and a fresh connection is still served."""

from __future__ import annotations

import json
import socket
import threading
import time
from pathlib import Path

import pytest

from tests.system.event_receiver import (
    event_ports,
    event_server,
    indexed_events,
    json_line,
    send,
    wait_for_logged,
)

CONNECTIONS = 6
LINES_PER_CONNECTION = 40_000
HWM_RISE_LIMIT_MB = 60
pytestmark = pytest.mark.slow


def _payload(connection: int, tiny: bool) -> bytes:
    """LINES_PER_CONNECTION lines; one in 100 is an error (indexed). Tiny lines are the
    shortest events there are, so a received chunk holds the most of them."""
    return b"".join((b'{"severity":3}\n' if tiny else json.dumps({
        "scanner": f"Flood {connection}", "severity": "info",
        "code": f"F{n}", "message": f"flood line {n} " + "x" * 80}).encode() + b"\n")
        if n % 100 else json_line(scanner="Flood", severity="error", code=f"F{n}")
        for n in range(LINES_PER_CONNECTION))


@pytest.mark.parametrize("tiny", [False, True], ids=["json-lines", "tiny-lines"])
def test_an_event_flood_keeps_memory_bounded_and_loses_no_line(
        tmp_path: Path, record_property: pytest.RecordProperty, tiny: bool) -> None:
    payloads = [_payload(c, tiny) for c in range(CONNECTIONS)]
    total = CONNECTIONS * LINES_PER_CONNECTION
    with event_server(tmp_path, queue_events=100) as server:
        plain, _ = event_ports(server)
        send(plain, b"".join(json_line(message=f"warm-up {n}", severity="error")
                             for n in range(2000)))
        assert wait_for_logged(server, 2000) == 2000
        time.sleep(0.5)
        baseline_rss_kb, baseline_kb = server.memory_kb()
        started = time.monotonic()
        senders = [threading.Thread(target=send, args=(plain, payload)) for payload in payloads]
        for sender in senders:
            sender.start()
        peak_rss_kb = 0
        while any(sender.is_alive() for sender in senders):
            peak_rss_kb = max(peak_rss_kb, server.memory_kb()[0])
            time.sleep(0.05)
        sent_seconds = time.monotonic() - started
        assert wait_for_logged(server, 2000 + total, timeout=300) == 2000 + total
        seconds = time.monotonic() - started
        hwm_kb = server.memory_kb()[1]
        send(plain, json_line(message="after the flood"))  # a fresh connection is served
        assert wait_for_logged(server, 2001 + total) == 2001 + total
        with socket.create_connection(("127.0.0.1", plain), timeout=10):
            pass
        assert server.stop() == 0, server.output
    rise_mb = (hwm_kb - baseline_kb) / 1024
    for name, value in [("baseline_hwm_mb", baseline_kb / 1024), ("hwm_mb", hwm_kb / 1024),
                        ("hwm_rise_mb", rise_mb), ("baseline_rss_mb", baseline_rss_kb / 1024),
                        ("peak_rss_mb", peak_rss_kb / 1024), ("seconds", seconds),
                        ("lines_per_second", total / seconds)]:
        record_property(name, round(value, 1))
    print(f"\nevent flood: {total} lines over {CONNECTIONS} connections in {seconds:.1f} s "
          f"({total / seconds:.0f} lines/s; senders done after {sent_seconds:.1f} s), VmHWM "
          f"{baseline_kb / 1024:.0f} → {hwm_kb / 1024:.0f} MB (+{rise_mb:.1f}), VmRSS "
          f"{baseline_rss_kb / 1024:.0f} → peak {peak_rss_kb / 1024:.0f} MB while sending")
    assert rise_mb < HWM_RISE_LIMIT_MB
    assert (peak_rss_kb - baseline_rss_kb) / 1024 < HWM_RISE_LIMIT_MB
    errors = total if tiny else total // 100
    assert len(indexed_events(server)) == 2000 + errors
    log = (server.data_path / "logs" / "slidepacs.log").read_text()
    assert (f"{total + 2001} event(s) received, {total + 2001} logged, "
            f"{2000 + errors} stored in the index (0 index failure(s)), 0 malformed, "
            f"0 oversized, {CONNECTIONS + 3} connection(s)") in log
