"""The study list's search language (SPEC §7, as in the source documents' URL integration).

A search is the query string of ``/viewer/#/list?…``. Each ``key=value`` pair is split at its
first ``=``, so the operator is the start of the value::

    key=v  key===v   equal           key=!=v   not equal       key=**v   contains
    key=>>v          greater         key=>=v   greater/equal
    key=<<v          less            key=<=v   less/equal
    studydate==~2013/11/25~2016/08/31   a range (either end may be empty)
    studydate=today | yesterday | pastweek | pastmonth

Repeating ``patientid`` or ``modality`` means OR; repeating another key is refused. Text
compares case-insensitively, and ``*``/``?`` in an equal value are wildcards. Dates are
``YYYY/MM/DD``, ``YYYY-MM-DD`` or ``YYYYMMDD``; times ``HH:MM[:SS]`` or ``HHMM[SS]``. Pure: no
I/O; the index turns a :class:`ListSearch` into SQL.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from enum import Enum

from slidepacs.errors import InvalidInput

MAX_LIMIT = 500
DEFAULT_LIMIT = 50
MAX_VALUE_CHARS = 200


class Kind(str, Enum):
    """How a key's values are read and compared."""

    TEXT = "text"
    NAME = "name"
    UID = "uid"
    DATE = "date"
    TIME = "time"
    NUMBER = "number"


class Level(str, Enum):
    """Where a key's attribute lives: a study matches through its patient, any of its series
    or any of its instances."""

    PATIENT = "patient"
    STUDY = "study"
    SERIES = "series"
    INSTANCE = "instance"


# key → (level, kind); the DICOM attribute is the index's business
KEYS: dict[str, tuple[Level, Kind]] = {
    "studyinstanceuid": (Level.STUDY, Kind.UID),
    "seriesinstanceuid": (Level.SERIES, Kind.UID),
    "sopinstanceuid": (Level.INSTANCE, Kind.UID),
    "patientid": (Level.PATIENT, Kind.TEXT),
    "patientname": (Level.PATIENT, Kind.NAME),
    "patientcomments": (Level.PATIENT, Kind.TEXT),
    "patientbirthdate": (Level.PATIENT, Kind.DATE),
    "patientsex": (Level.PATIENT, Kind.TEXT),
    "studydescription": (Level.STUDY, Kind.TEXT),
    "studyid": (Level.STUDY, Kind.TEXT),
    "studydate": (Level.STUDY, Kind.DATE),
    "studytime": (Level.STUDY, Kind.TIME),
    "accessionnumber": (Level.STUDY, Kind.TEXT),
    "seriesnumber": (Level.SERIES, Kind.NUMBER),
    "seriesdate": (Level.SERIES, Kind.DATE),
    "seriestime": (Level.SERIES, Kind.TIME),
    "seriesdescription": (Level.SERIES, Kind.TEXT),
    "modality": (Level.SERIES, Kind.TEXT),
    "bodypartexamined": (Level.SERIES, Kind.TEXT),
    "slideid": (Level.INSTANCE, Kind.TEXT),
    "caseid": (Level.INSTANCE, Kind.TEXT),
    "barcode": (Level.INSTANCE, Kind.TEXT),
}
OR_KEYS = frozenset({"patientid", "modality"})
# keys the list can be sorted on (patient and study level: one value per study)
SORT_KEYS = frozenset(k for k, (level, _) in KEYS.items()
                      if level in (Level.PATIENT, Level.STUDY)) | {"modality"}
CONTROL_KEYS = frozenset({"sort", "order", "limit", "offset"})
CREDENTIAL_KEYS = frozenset({"id", "password", "code"})  # log-in, never search keys
DATE_WORDS = frozenset({"today", "yesterday", "pastweek", "pastmonth"})


class Op(str, Enum):
    """A comparison of the search language."""

    EQ = "equal"
    NE = "not equal"
    GT = "greater"
    GE = "greater or equal"
    LT = "less"
    LE = "less or equal"
    CONTAINS = "contains"
    RANGE = "range"


# value prefix → operator, longest first so "==~" wins over "=="
_PREFIXES: tuple[tuple[str, Op], ...] = (
    ("=~", Op.RANGE), ("==", Op.EQ), ("!=", Op.NE), (">>", Op.GT), (">=", Op.GE),
    ("<<", Op.LT), ("<=", Op.LE), ("**", Op.CONTAINS),
)


@dataclass(frozen=True, slots=True)
class Criterion:
    """One condition: ``key op values``; ``values`` has several entries only for an equal OR,
    and is ``(low, high)`` for a range (either may be "")."""

    key: str
    op: Op
    values: tuple[str, ...]

    @property
    def level(self) -> Level:
        """Where the key's attribute lives."""
        return KEYS[self.key][0]

    @property
    def kind(self) -> Kind:
        """How the key's values compare."""
        return KEYS[self.key][1]


@dataclass(frozen=True, slots=True)
class ListSearch:
    """A parsed study-list search: every criterion must hold (AND)."""

    criteria: tuple[Criterion, ...] = ()
    sort: str = "studydate"
    descending: bool = True
    limit: int = DEFAULT_LIMIT
    offset: int = 0


def parse_list_search(pairs: Iterable[tuple[str, str]], today: date) -> ListSearch:
    """The search that query-string ``pairs`` (decoded, in order) describe; InvalidInput
    naming the parameter when a key, operator or value is not understood."""
    found: dict[str, list[tuple[Op, tuple[str, ...]]]] = {}
    controls: dict[str, str] = {}
    for raw_key, raw_value in pairs:
        key = raw_key.strip().lower()
        if key in CREDENTIAL_KEYS:
            continue
        if key in CONTROL_KEYS:
            if key in controls:
                raise InvalidInput(f"parameter {key!r} is given twice")
            controls[key] = raw_value.strip()
            continue
        if key not in KEYS:
            raise InvalidInput(f"parameter {raw_key!r} is not a search key (keys: "
                               f"{', '.join(sorted(KEYS))})")
        if key in found and key not in OR_KEYS:
            raise InvalidInput(f"parameter {key!r} is given twice (only patientid and modality "
                               "may repeat, meaning OR)")
        found.setdefault(key, []).append(_criterion_parts(key, raw_value, today))
    criteria = tuple(_merged(key, parts) for key, parts in found.items())
    return ListSearch(criteria, *_controls(controls))


def _criterion_parts(key: str, raw: str, today: date) -> tuple[Op, tuple[str, ...]]:
    if len(raw) > MAX_VALUE_CHARS:
        raise InvalidInput(f"parameter {key!r}: the value is longer than {MAX_VALUE_CHARS} "
                           "characters")
    op, text = Op.EQ, raw
    for prefix, kind in _PREFIXES:
        if raw.startswith(prefix):
            op, text = kind, raw[len(prefix):]
            break
    kind = KEYS[key][1]
    text = text.strip()
    if op is Op.EQ and kind is Kind.DATE and text.lower() in DATE_WORDS:
        return Op.RANGE, _date_word(text.lower(), today)
    if op is Op.RANGE:
        if kind not in (Kind.DATE, Kind.TIME, Kind.NUMBER):
            raise InvalidInput(f"parameter {key!r}: a range (=~low~high) needs a date, time "
                               "or number key")
        low, sep, high = text.partition("~")
        if not sep:
            raise InvalidInput(f"parameter {key!r}: write a range as {key}==~low~high")
        values = (_value(key, kind, low) if low.strip() else "",
                  _value(key, kind, high) if high.strip() else "")
        if not any(values):
            raise InvalidInput(f"parameter {key!r}: a range needs at least one end")
        return op, values
    if not text:
        raise InvalidInput(f"parameter {key!r}: the value is empty")
    if op in (Op.GT, Op.GE, Op.LT, Op.LE) and kind is Kind.UID:
        raise InvalidInput(f"parameter {key!r}: UIDs compare only as equal, not equal or "
                           "contains")
    if op is Op.CONTAINS:
        return op, (text,)
    return op, (_value(key, kind, text, wildcards=op is Op.EQ),)


def _merged(key: str, parts: list[tuple[Op, tuple[str, ...]]]) -> Criterion:
    if len(parts) == 1:
        return Criterion(key, *parts[0])
    if any(op is not Op.EQ for op, _ in parts):
        raise InvalidInput(f"parameter {key!r}: repeated values (OR) must all be equal matches")
    return Criterion(key, Op.EQ, tuple(v for _, values in parts for v in values))


def _value(key: str, kind: Kind, text: str, wildcards: bool = False) -> str:
    text = text.strip()
    if kind is Kind.DATE:
        return _date(key, text)
    if kind is Kind.TIME:
        return _time(key, text)
    if kind is Kind.NUMBER:
        if not re.fullmatch(r"[+-]?\d{1,9}", text):
            raise InvalidInput(f"parameter {key!r}: {text!r} is not a whole number")
        return str(int(text))
    if kind is Kind.UID and not re.fullmatch(r"[0-9.*?]{1,64}" if wildcards else r"[0-9.]{1,64}",
                                             text):
        raise InvalidInput(f"parameter {key!r}: {text!r} is not a UID")
    return text


def _date(key: str, text: str) -> str:
    digits = re.fullmatch(r"(\d{4})[/-]?(\d{2})[/-]?(\d{2})", text)
    try:
        if digits is None:
            raise ValueError
        return date(*(int(g) for g in digits.groups())).strftime("%Y%m%d")
    except ValueError:
        raise InvalidInput(f"parameter {key!r}: {text!r} is not a date (YYYY/MM/DD, "
                           "YYYY-MM-DD or YYYYMMDD)") from None


def _time(key: str, text: str) -> str:
    found = re.fullmatch(r"(\d{2}):?(\d{2})(?::?(\d{2}))?", text)
    if found is None or int(found[1]) > 23 or int(found[2]) > 59 or int(found[3] or 0) > 60:
        raise InvalidInput(f"parameter {key!r}: {text!r} is not a time (HH:MM:SS or HHMMSS)")
    return f"{found[1]}{found[2]}{found[3] or ''}"


def _date_word(word: str, today: date) -> tuple[str, str]:
    start = {"today": today, "yesterday": today - timedelta(days=1),
             "pastweek": today - timedelta(days=6), "pastmonth": today - timedelta(days=30)}[word]
    end = start if word == "yesterday" else today
    return start.strftime("%Y%m%d"), end.strftime("%Y%m%d")


def _controls(controls: dict[str, str]) -> tuple[str, bool, int, int]:
    sort = controls.get("sort", "studydate").lower() or "studydate"
    if sort not in SORT_KEYS:
        raise InvalidInput(f"parameter 'sort': {sort!r} is not one of "
                           f"{', '.join(sorted(SORT_KEYS))}")
    order = controls.get("order", "").lower()
    if order not in ("", "asc", "desc"):
        raise InvalidInput("parameter 'order' must be asc or desc")
    descending = order == "desc" or (not order and sort == "studydate")
    return sort, descending, _number("limit", controls, DEFAULT_LIMIT, 1, MAX_LIMIT), \
        _number("offset", controls, 0, 0, 10**9)


def _number(name: str, controls: dict[str, str], default: int, low: int, high: int) -> int:
    text = controls.get(name, "")
    if not text:
        return default
    if not text.isdigit() or not low <= int(text) <= high:
        raise InvalidInput(f"parameter {name!r} must be a whole number from {low} to {high}")
    return int(text)
