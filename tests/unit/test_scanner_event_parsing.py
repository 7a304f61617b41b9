"""Parsing scanner event lines (JSON, RFC 5424, RFC 3164), framing the TCP stream, CSV rows."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timezone

import pytest

from slidepacs.domain.scanner_events import (
    EventFilter,
    MalformedEvent,
    ScannerEvent,
    Severity,
    csv_line,
    csv_row,
    parse_event_line,
    parse_severity,
    parse_time_bound,
)
from slidepacs.errors import InvalidInput
from slidepacs.scanner.framing import OVERSIZED, Framer

NOW = datetime(2026, 12, 4, 6, 0, 0, tzinfo=timezone.utc)


def parse(line: bytes | str) -> ScannerEvent:
    return parse_event_line(line.encode() if isinstance(line, str) else line, "10.0.0.7", NOW)


def test_json_event_keeps_its_fields_and_other_fields_as_extras() -> None:
    event = parse('{"time": "2026-12-04T06:01:02.5Z", "scanner": "Lab 1", "severity": "error", '
                  '"code": "QC_FAILED", "message": "Focus below threshold", "rack": 3}')
    assert (event.scanner, event.severity, event.code, event.message) == (
        "Lab 1", Severity.ERROR, "QC_FAILED", "Focus below threshold")
    assert event.event_time == datetime(2026, 12, 4, 6, 1, 2, 500000, tzinfo=timezone.utc)
    assert event.extras == {"rack": 3} and event.indexed and event.source_format == "json"
    record = event.log_record()
    assert record["received"] == "2026-12-04T06:00:00Z" and record["rack"] == 3
    assert record["address"] == "10.0.0.7" and record["severity"] == "error"


@pytest.mark.parametrize(("value", "expected"), [
    ("emergency", Severity.EMERGENCY), ("FATAL", Severity.CRITICAL), ("warn", Severity.WARNING),
    (4, Severity.WARNING), ("7", Severity.DEBUG), (0, Severity.EMERGENCY),
    ("Informational", Severity.INFO),
])
def test_severity_names_aliases_and_numbers(value: object, expected: Severity) -> None:
    assert parse_severity(value) is expected


@pytest.mark.parametrize("value", [8, -1, "loud", True, None, 3.0, ""])
def test_bad_severity_is_malformed(value: object) -> None:
    with pytest.raises(MalformedEvent, match="severity"):
        parse(json.dumps({"severity": value}))


def test_json_without_severity_is_info_and_offset_times_become_utc() -> None:
    event = parse('{"scanner": "S", "time": "2026-12-04T08:00:00+02:00"}')
    assert event.severity is Severity.INFO and not event.indexed
    assert event.event_time == datetime(2026, 12, 4, 6, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(("line", "reason"), [
    (b'{"scanner": "S"', "not valid JSON"),
    (b'["a", "b"]', "start with"),
    (b'{"x": [1, 2]} trailing', "not valid JSON"),
    (b"{" + b'"a":' * 1 + b"[" * 100000 + b"]" * 100000 + b"}", "nested too deeply"),
    (b'{"a": [[[[[1]]]]]}', "nested more than 4"),
    (json.dumps({f"f{n}": n for n in range(33)}).encode(), "more than 32 other fields"),
    (b'{"scanner": 7}', "scanner must be a string"),
    (b'{"time": "yesterday"}', "not ISO 8601"),
    (b'{"message": "\xff\xfe"}', "not UTF-8"),
    (b"", "must start with"),
    (b"hello world", "must start with"),
])
def test_malformed_json_lines_say_why(line: bytes, reason: str) -> None:
    with pytest.raises(MalformedEvent, match=reason):
        parse(line)


def test_malformed_event_is_invalid_input() -> None:
    assert issubclass(MalformedEvent, InvalidInput)


def test_rfc5424_with_structured_data_escapes_and_bom() -> None:
    line = ('<11>1 2026-12-04T06:01:02.123456+01:00 GT450-1 scanner 42 QC_FAILED '
            '[qc@32473 rack="3" note="a \\"quoted\\" \\\\ \\] value"][meta x="1"] '
            '\ufeffFocus below threshold').encode()
    event = parse(line)
    assert (event.scanner, event.severity, event.code) == ("GT450-1", Severity.ERROR, "QC_FAILED")
    assert event.message == "Focus below threshold"
    assert event.event_time == datetime(2026, 12, 4, 5, 1, 2, 123456, tzinfo=timezone.utc)
    assert event.extras["structured_data"] == {
        "qc@32473": {"rack": "3", "note": 'a "quoted" \\ ] value'}, "meta": {"x": "1"}}
    assert event.extras["facility"] == 1 and event.extras["app_name"] == "scanner"
    assert event.extras["procid"] == "42" and event.source_format == "syslog"


def test_rfc5424_nil_values_and_no_message() -> None:
    event = parse("<190>1 - - - - - -")
    assert event.event_time is None and event.scanner == "" and event.code == ""
    assert event.message == "" and event.severity is Severity.INFO
    assert event.extras["facility"] == 23


@pytest.mark.parametrize(("line", "reason"), [
    ("<192>1 - host app - - - msg", "PRI"),
    ("<01>1 - host app - - - msg", "PRI"),
    ("<x>1 - host app - - - msg", "PRI"),
    ("<13>2 - host app - - - msg", "neither RFC 5424"),
    ("<13>1 - host app - -", "header needs"),
    ("<13>1 yesterday host app - - - msg", "not RFC 3339"),
    ("<13>1 2026-12-04T06:00:00 host app - - - msg", "lacks its offset"),
    ("<13>1 - host app - - [id k=v] msg", "name=\"value\""),
    ('<13>1 - host app - - [id k="v"', "not closed"),
    ('<13>1 - host app - - [id k="v', "not closed"),
    ('<13>1 - host app - - [id k="v]"] msg', "unescaped"),
    ("<13>1 - host app - - x msg", "STRUCTURED-DATA"),
    ('<13>1 - host app - - [id k="v"]msg', "after a space"),
    ("<13>1 - " + "h" * 256 + " app - - - msg", "HOSTNAME"),
    ("<13>garbage", "neither RFC 5424"),
])
def test_malformed_syslog_lines_say_why(line: str, reason: str) -> None:
    with pytest.raises(MalformedEvent, match=reason):
        parse(line)


def test_rfc3164_lines_are_accepted_leniently() -> None:
    event = parse("<13>Dec  4 05:59:58 scanner-7 gt450[123]: tray 3 empty")
    assert (event.scanner, event.severity, event.message) == (
        "scanner-7", Severity.NOTICE, "tray 3 empty")
    assert event.event_time == datetime(2026, 12, 4, 5, 59, 58, tzinfo=timezone.utc)
    assert event.extras == {"facility": 1, "rfc": 3164, "app_name": "gt450", "procid": "123"}


def test_rfc3164_time_far_ahead_is_last_year() -> None:
    event = parse("<11>Dec 31 23:00:00 s app: x")
    new_year = parse_event_line(b"<11>Dec 31 23:00:00 s app: x", "a",
                                datetime(2027, 1, 1, 0, 5, tzinfo=timezone.utc))
    assert event.event_time.year == 2025 and new_year.event_time.year == 2026


def test_csv_rows_neutralise_formulas_and_quote() -> None:
    event = ScannerEvent(NOW, None, "=HYPERLINK(\"x\")", Severity.CRITICAL, "+SUM(A1)",
                         'a, "b"\nc', "@10.0.0.1", "json")
    cells = csv_row(event)
    assert cells[2] == "'=HYPERLINK(\"x\")" and cells[4] == "'+SUM(A1)"
    assert cells[6] == "'@10.0.0.1" and cells[3] == "critical" and cells[1] == ""
    assert next(csv.reader(io.StringIO(csv_line(cells)))) == cells
    assert csv_row(ScannerEvent(NOW, None, "-1", Severity.ERROR, "", "", "", "json"))[2] == "'-1"


def test_time_bounds_accept_dates_and_times() -> None:
    assert parse_time_bound("2026-12-04") == datetime(2026, 12, 4, tzinfo=timezone.utc)
    assert parse_time_bound("2026-12-04", end=True) == datetime(2026, 12, 5, tzinfo=timezone.utc)
    assert parse_time_bound("2026-12-04T07:30+01:00") == datetime(2026, 12, 4, 6, 30,
                                                                  tzinfo=timezone.utc)
    with pytest.raises(InvalidInput, match="not an ISO 8601"):
        parse_time_bound("last tuesday")
    assert EventFilter().limit == 100


def test_framer_splits_lines_and_octet_counted_frames() -> None:
    framer = Framer(64)
    frames = list(framer.feed(b'{"a": 1}\r\n{"b"'))
    counted = b"<13>1 - h a - - - x\n"
    frames += list(framer.feed(b': 2}\n11 <13>1 - - -' + b"%d " % len(counted) + counted))
    assert frames == [b'{"a": 1}', b'{"b": 2}', b"<13>1 - - -", b"<13>1 - h a - - - x"]
    assert list(framer.feed(b"tail without end")) == []
    assert list(framer.finish()) == [b"tail without end"]


def test_framer_drops_an_oversized_line_and_keeps_going() -> None:
    framer = Framer(16)
    assert list(framer.feed(b"x" * 40)) == [OVERSIZED]
    assert list(framer.feed(b"y" * 40)) == []  # still the same line
    assert list(framer.feed(b"z\nshort\n" + b"w" * 17 + b"\nok\n")) == [b"short", OVERSIZED, b"ok"]
    assert list(framer.feed(b"99 " + b"q" * 50)) == [OVERSIZED]
    assert list(framer.feed(b"q" * 49 + b"after\n")) == [b"after"]


def test_framer_reads_digits_without_a_count_as_a_line() -> None:
    framer = Framer(64)
    assert list(framer.feed(b"12")) == []  # perhaps a count still arriving
    assert list(framer.feed(b"345678901 is a line\n0 starts a line\n")) == [
        b"12345678901 is a line", b"0 starts a line"]
    assert list(framer.feed(b"7x not a count\n")) == [b"7x not a count"]
    assert list(framer.feed(b"5 ab")) == []
    assert list(framer.feed(b"cde<13>")) == [b"abcde"]
    assert list(framer.finish()) == [b"<13>"]
