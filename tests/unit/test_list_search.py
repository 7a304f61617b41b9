"""The study list's URL search language (SPEC §7): operators in the value, OR, ranges,
date words, and a clear error naming the parameter for anything else."""

from __future__ import annotations

from datetime import date
from urllib.parse import parse_qsl

import pytest

from slidepacs.domain.list_search import Criterion, Op, parse_list_search
from slidepacs.errors import InvalidInput

TODAY = date(2026, 3, 2)


def parsed(query: str):  # noqa: ANN201
    return parse_list_search(parse_qsl(query, keep_blank_values=True), TODAY)


@pytest.mark.parametrize(("query", "expected"), [
    ("patientid=123", Criterion("patientid", Op.EQ, ("123",))),
    ("patientid===123", Criterion("patientid", Op.EQ, ("123",))),
    ("modality=!=CT", Criterion("modality", Op.NE, ("CT",))),
    ("seriesnumber=>>3", Criterion("seriesnumber", Op.GT, ("3",))),
    ("studydate=>=2018/01/23", Criterion("studydate", Op.GE, ("20180123",))),
    ("studytime=<<10:56:20", Criterion("studytime", Op.LT, ("105620",))),
    ("patientbirthdate=<=1990-04-01", Criterion("patientbirthdate", Op.LE, ("19900401",))),
    ("patientname=**john", Criterion("patientname", Op.CONTAINS, ("john",))),
    ("studydate==~2013/11/25~2016/08/31",
     Criterion("studydate", Op.RANGE, ("20131125", "20160831"))),
    ("studydate==~~2016/08/31", Criterion("studydate", Op.RANGE, ("", "20160831"))),
    ("StudyDate==~20131125~", Criterion("studydate", Op.RANGE, ("20131125", ""))),
    ("patientid=1234&patientid=5678", Criterion("patientid", Op.EQ, ("1234", "5678"))),
    ("modality=cr&modality=ct", Criterion("modality", Op.EQ, ("cr", "ct"))),
])
def test_each_operator_of_the_url_language_is_read_from_the_value(query: str,
                                                                  expected: Criterion) -> None:
    assert parsed(query).criteria == (expected,)


@pytest.mark.parametrize(("word", "low", "high"), [
    ("today", "20260302", "20260302"), ("yesterday", "20260301", "20260301"),
    ("pastweek", "20260224", "20260302"), ("pastmonth", "20260131", "20260302"),
])
def test_date_words_become_ranges_ending_today(word: str, low: str, high: str) -> None:
    assert parsed(f"studydate={word}").criteria == (
        Criterion("studydate", Op.RANGE, (low, high)),)


def test_credentials_are_never_search_keys_and_controls_are_read() -> None:
    search = parsed("id=admin&password=x&code=y&sort=patientname&order=asc&limit=20&offset=40")
    assert search.criteria == ()
    assert (search.sort, search.descending, search.limit, search.offset) == (
        "patientname", False, 20, 40)
    default = parsed("")
    assert (default.sort, default.descending, default.limit) == ("studydate", True, 50)


@pytest.mark.parametrize(("query", "named"), [
    ("colour=red", "'colour'"),
    ("studydate=2018/13/45", "'studydate'"),
    ("studydate=yesterdayish", "'studydate'"),
    ("studytime=25:00", "'studytime'"),
    ("seriesnumber=three", "'seriesnumber'"),
    ("studyinstanceuid=>>1.2", "'studyinstanceuid'"),
    ("studyinstanceuid=1.2.abc", "'studyinstanceuid'"),
    ("patientname==~a~b", "'patientname'"),
    ("studydate==~~", "'studydate'"),
    ("accessionnumber=1&accessionnumber=2", "'accessionnumber'"),
    ("patientid=1&patientid=!=2", "'patientid'"),
    ("patientid=", "'patientid'"),
    ("sort=slideid", "'sort'"),
    ("order=up", "'order'"),
    ("limit=0", "'limit'"),
    ("limit=501", "'limit'"),
    ("offset=-1", "'offset'"),
    ("patientid=" + "x" * 201, "'patientid'"),
])
def test_bad_input_is_refused_naming_the_parameter(query: str, named: str) -> None:
    with pytest.raises(InvalidInput, match=named):
        parsed(query)
