"""Scanner events (SPEC §5, docs/scanner-api.md "Event receiver"): parsing one received line
(JSON, RFC 5424 syslog, or leniently RFC 3164 syslog), the event log record, filters over
stored events and CSV rows for export. Pure: no I/O."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from enum import IntEnum
from typing import Any

from slidepacs.errors import InvalidInput

FIELD_CHARS = 64  # scanner and code: as long as their index columns
MAX_EXTRA_FIELDS = 32
MAX_EXTRA_DEPTH = 4
INDEXED_SEVERITY = 3  # error and worse go to the index too
CSV_HEADER = ("received", "time", "scanner", "severity", "code", "message", "address", "format")
_FORMULA_START = tuple("=+-@\t\r")
_BOM = "\ufeff"


class MalformedEvent(InvalidInput):
    """A received line is neither a JSON event nor a syslog message; the message says why."""


class Severity(IntEnum):
    """Syslog severities (RFC 5424 §6.2.1): the lower, the worse."""

    EMERGENCY = 0
    ALERT = 1
    CRITICAL = 2
    ERROR = 3
    WARNING = 4
    NOTICE = 5
    INFO = 6
    DEBUG = 7

    @property
    def label(self) -> str:
        """The lower-case name used on the wire, in the log and on the page."""
        return self.name.lower()


_SEVERITY_ALIASES = {
    "fatal": Severity.CRITICAL, "crit": Severity.CRITICAL, "warn": Severity.WARNING,
    "err": Severity.ERROR, "emerg": Severity.EMERGENCY, "informational": Severity.INFO,
    **{s.label: s for s in Severity},
}


def parse_severity(value: object) -> Severity:
    """A severity from its name (any case, with the aliases of the protocol) or number 0–7."""
    if isinstance(value, bool):
        raise MalformedEvent(f"severity {value!r} is not a syslog severity name or 0–7")
    if isinstance(value, int) and 0 <= value <= 7:
        return Severity(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _SEVERITY_ALIASES:
            return _SEVERITY_ALIASES[text]
        if text.isdigit() and int(text) <= 7:
            return Severity(int(text))
    raise MalformedEvent(f"severity {str(value)[:40]!r} is not a syslog severity name or 0–7")


@dataclass(frozen=True, slots=True)
class ScannerEvent:
    """One event as received: who sent it, how bad, what, and the sender's other fields."""

    received_at: datetime
    event_time: datetime | None
    scanner: str
    severity: Severity
    code: str
    message: str
    address: str
    source_format: str  # "json" or "syslog"
    extras: Mapping[str, Any] = field(default_factory=dict)

    @property
    def indexed(self) -> bool:
        """Whether the event also goes to the index (error or worse)."""
        return self.severity <= INDEXED_SEVERITY

    def log_record(self) -> dict[str, Any]:
        """The event log's JSON object: the fixed fields, then the sender's other fields."""
        record = {key: value for key, value in self.extras.items() if key not in CSV_HEADER}
        return {"received": _iso(self.received_at), "time": _iso(self.event_time),
                "scanner": self.scanner, "severity": self.severity.label, "code": self.code,
                "message": self.message, "address": self.address,
                "format": self.source_format, **record}


def parse_event_line(line: bytes, address: str, received_at: datetime) -> ScannerEvent:
    """Parse one received line (without its line end); MalformedEvent says what is wrong."""
    if line.startswith(b"{"):
        return _parse_json(line, address, received_at)
    if line.startswith(b"<"):
        return _parse_syslog(line, address, received_at)
    raise MalformedEvent("a line must start with '{' (JSON) or '<' (syslog)")


# -- JSON ---------------------------------------------------------------------------------------
def _parse_json(line: bytes, address: str, received_at: datetime) -> ScannerEvent:
    try:
        value = json.loads(line)
    except UnicodeDecodeError:
        raise MalformedEvent("the JSON line is not UTF-8") from None
    except RecursionError:
        raise MalformedEvent("the JSON line is nested too deeply") from None
    except ValueError as exc:
        raise MalformedEvent(f"not valid JSON ({exc})") from None
    if not isinstance(value, dict):
        raise MalformedEvent("the JSON line is not an object")
    fields = {"scanner": "", "code": "", "message": ""}
    for name in fields:
        text = value.pop(name, "")
        if not isinstance(text, str):
            raise MalformedEvent(f"{name} must be a string")
        fields[name] = text
    severity = parse_severity(value.pop("severity", "info"))
    event_time = _json_time(value.pop("time", None))
    extras = _bounded_extras(value)
    return ScannerEvent(received_at, event_time, fields["scanner"][:FIELD_CHARS], severity,
                        fields["code"][:FIELD_CHARS], fields["message"], address, "json", extras)


def _json_time(value: object) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise MalformedEvent("time must be an ISO 8601 string")
    try:
        return _utc(datetime.fromisoformat(value))
    except ValueError:
        raise MalformedEvent(f"time {value[:40]!r} is not ISO 8601") from None


def _bounded_extras(extras: dict[str, Any]) -> dict[str, Any]:
    if len(extras) > MAX_EXTRA_FIELDS:
        raise MalformedEvent(f"more than {MAX_EXTRA_FIELDS} other fields")
    for key, value in extras.items():
        if _depth(value) > MAX_EXTRA_DEPTH:
            raise MalformedEvent(f"field {key[:40]!r} is nested more than {MAX_EXTRA_DEPTH} deep")
    return extras


def _depth(value: object) -> int:
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    return 0


# -- syslog -------------------------------------------------------------------------------------
_PRI = re.compile(rb"<(0|[1-9][0-9]{0,2})>")
_RFC3164_TIME = re.compile(r"([A-Z][a-z]{2}) ([ 0-9][0-9]) ([0-9]{2}):([0-9]{2}):([0-9]{2}) ")
_RFC3164_TAG = re.compile(r"([!-9;-~]{1,48}?)(?:\[([^\]]{1,128})\])?: ?")
_MONTHS = {m: n for n, m in enumerate(("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug",
                                         "Sep", "Oct", "Nov", "Dec"), start=1)}
_SD_NAME = re.compile(r'[!#-<>-Z\\^-~]{1,32}')  # PRINTUSASCII except = SP ] "


def _parse_syslog(line: bytes, address: str, received_at: datetime) -> ScannerEvent:
    match = _PRI.match(line)
    if match is None or int(match.group(1)) > 191:
        raise MalformedEvent("syslog PRI must be <0> to <191>")
    severity = Severity(int(match.group(1)) % 8)
    facility = int(match.group(1)) // 8
    rest = line[match.end():].decode("utf-8", errors="replace")
    if rest.startswith("1 "):
        return _parse_rfc5424(rest[2:], severity, facility, address, received_at)
    if _RFC3164_TIME.match(rest):
        return _parse_rfc3164(rest, severity, facility, address, received_at)
    raise MalformedEvent("syslog line is neither RFC 5424 (VERSION 1) nor RFC 3164")


def _parse_rfc5424(rest: str, severity: Severity, facility: int, address: str,
                   received_at: datetime) -> ScannerEvent:
    parts = rest.split(" ", 5)
    if len(parts) < 6:
        raise MalformedEvent("RFC 5424 header needs TIMESTAMP HOSTNAME APP-NAME PROCID MSGID "
                             "STRUCTURED-DATA")
    stamp, hostname, app_name, procid, msgid, tail = parts
    for name, value, limit in (("HOSTNAME", hostname, 255), ("APP-NAME", app_name, 48),
                               ("PROCID", procid, 128), ("MSGID", msgid, 32)):
        if not value or len(value) > limit or not value.isprintable() or not value.isascii():
            raise MalformedEvent(f"RFC 5424 {name} must be 1–{limit} printable ASCII characters")
    event_time = None if stamp == "-" else _syslog_time(stamp)
    structured, message = _structured_data(tail)
    extras: dict[str, Any] = {"facility": facility, "app_name": _nil(app_name),
                              "procid": _nil(procid)}
    if structured:
        extras["structured_data"] = structured
    return ScannerEvent(received_at, event_time, _nil(hostname)[:FIELD_CHARS], severity,
                        _nil(msgid), _message(message), address, "syslog", extras)


def _syslog_time(stamp: str) -> datetime:
    try:
        value = datetime.fromisoformat(stamp)
    except ValueError:
        raise MalformedEvent(f"RFC 5424 TIMESTAMP {stamp[:40]!r} is not RFC 3339") from None
    if value.tzinfo is None:
        raise MalformedEvent(f"RFC 5424 TIMESTAMP {stamp[:40]!r} lacks its offset")
    return _utc(value)


def _structured_data(tail: str) -> tuple[dict[str, dict[str, str]], str]:
    """(elements, MSG) from ``STRUCTURED-DATA [SP MSG]``."""
    if tail.startswith("-"):
        return {}, _after_space(tail[1:])
    elements: dict[str, dict[str, str]] = {}
    position = 0
    while position < len(tail) and tail[position] == "[":
        position = _sd_element(tail, position + 1, elements)
    if not elements:
        raise MalformedEvent("RFC 5424 STRUCTURED-DATA must be '-' or [ID name=\"value\" …]")
    return elements, _after_space(tail[position:])


def _sd_element(tail: str, position: int, elements: dict[str, dict[str, str]]) -> int:
    """Parse one ``ID *(SP name="value")]`` from ``position``; return the index after ``]``."""
    match = _SD_NAME.match(tail, position)
    if match is None:
        raise MalformedEvent("RFC 5424 SD-ID missing or invalid")
    params: dict[str, str] = {}
    position = match.end()
    while position < len(tail) and tail[position] == " ":
        name = _SD_NAME.match(tail, position + 1)
        if name is None or tail[name.end():name.end() + 2] != '="':
            raise MalformedEvent("RFC 5424 SD-PARAM must be name=\"value\"")
        value, position = _sd_value(tail, name.end() + 2)
        params[name.group()] = value
    if position >= len(tail) or tail[position] != "]":
        raise MalformedEvent("RFC 5424 SD-ELEMENT is not closed by ']'")
    if len(elements) >= MAX_EXTRA_FIELDS:
        raise MalformedEvent(f"more than {MAX_EXTRA_FIELDS} SD-ELEMENTs")
    elements[match.group()] = params
    return position + 1


def _sd_value(tail: str, position: int) -> tuple[str, int]:
    """A PARAM-VALUE from after its opening quote: (unescaped value, index after the quote)."""
    chars: list[str] = []
    while position < len(tail):
        char = tail[position]
        if char == "\\" and tail[position + 1:position + 2] in ('"', "\\", "]"):
            chars.append(tail[position + 1])
            position += 2
            continue
        if char == '"':
            return "".join(chars), position + 1
        if char == "]":
            raise MalformedEvent("RFC 5424 PARAM-VALUE has an unescaped ']'")
        chars.append(char)
        position += 1
    raise MalformedEvent("RFC 5424 PARAM-VALUE is not closed by '\"'")


def _after_space(text: str) -> str:
    if text and not text.startswith(" "):
        raise MalformedEvent("RFC 5424 MSG must follow STRUCTURED-DATA after a space")
    return text[1:]


def _message(text: str) -> str:
    return text[1:] if text.startswith(_BOM) else text


def _nil(value: str) -> str:
    return "" if value == "-" else value


def _parse_rfc3164(rest: str, severity: Severity, facility: int, address: str,
                   received_at: datetime) -> ScannerEvent:
    """``Mmm dd hh:mm:ss HOSTNAME TAG[PID]: MSG`` (BSD syslog, accepted leniently): the year
    is the receipt's (the previous one if that puts the time more than a day ahead)."""
    stamp = _RFC3164_TIME.match(rest)
    assert stamp is not None
    month = _MONTHS.get(stamp.group(1))
    try:
        if month is None:
            raise ValueError
        event_time = datetime(received_at.year, month, int(stamp.group(2)), int(stamp.group(3)),
                              int(stamp.group(4)), int(stamp.group(5)), tzinfo=timezone.utc)
    except ValueError:
        raise MalformedEvent(f"RFC 3164 TIMESTAMP {stamp.group(0)!r} is not a date") from None
    if event_time - received_at > timedelta(days=1):
        event_time = event_time.replace(year=event_time.year - 1)
    hostname, _, body = rest[stamp.end():].partition(" ")
    tag = _RFC3164_TAG.match(body)
    extras: dict[str, Any] = {"facility": facility, "rfc": 3164}
    if tag is not None:
        extras.update(app_name=tag.group(1), procid=tag.group(2) or "")
        body = body[tag.end():]
    return ScannerEvent(received_at, event_time, hostname[:FIELD_CHARS], severity, "", body,
                        address, "syslog", extras)


# -- filters, times, CSV ------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class EventFilter:
    """Which stored events to list: a scanner (exact), this severity or worse, received in
    ``[since, until)``; newest first, ``limit`` from ``offset``."""

    scanner: str | None = None
    severity: Severity | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 100
    offset: int = 0


def parse_time_bound(text: str, end: bool = False) -> datetime:
    """An ISO 8601 date or date-time (UTC when it has no offset). A bare date is its
    midnight, or with ``end`` the next midnight (so ``until=DATE`` includes that day)."""
    value = text.strip()
    try:
        day = date.fromisoformat(value)
    except ValueError:
        day = None
    if day is not None:
        moment = datetime.combine(day, time(), timezone.utc)
        return moment + timedelta(days=1) if end else moment
    try:
        return _utc(datetime.fromisoformat(value))
    except ValueError:
        raise InvalidInput(f"{text[:40]!r} is not an ISO 8601 date or time") from None


def event_filter(scanner: str, severity: str, since: str, until: str, limit: int,
                 offset: int) -> EventFilter:
    """An EventFilter from text parameters (empty = any); InvalidInput naming the bad one."""
    try:
        level = parse_severity(severity) if severity.strip() else None
    except InvalidInput as exc:
        raise InvalidInput(f"severity: {exc}") from None
    return EventFilter(scanner.strip() or None, level, _bound("since", since),
                       _bound("until", until, end=True), limit, offset)


def _bound(name: str, text: str, end: bool = False) -> datetime | None:
    if not text.strip():
        return None
    try:
        return parse_time_bound(text, end)
    except InvalidInput as exc:
        raise InvalidInput(f"{name}: {exc}") from None


def csv_row(event: ScannerEvent) -> list[str]:
    """The CSV cells of an event (CSV_HEADER order), safe to open in a spreadsheet."""
    cells = [_iso(event.received_at) or "", _iso(event.event_time) or "", event.scanner,
             event.severity.label, event.code, event.message, event.address,
             event.source_format]
    return [_inert(cell) for cell in cells]


def csv_line(cells: list[str] | tuple[str, ...]) -> str:
    """One CSV record (RFC 4180 quoting, CRLF)."""
    buffer = io.StringIO()
    csv.writer(buffer).writerow(cells)
    return buffer.getvalue()


def _inert(cell: str) -> str:
    """A cell a spreadsheet shows as text instead of evaluating it as a formula."""
    return "'" + cell if cell.startswith(_FORMULA_START) else cell


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")
