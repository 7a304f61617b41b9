"""The study list's API on SQLite and PostgreSQL: each operator of the URL language picks the
right studies, OR, sorting and paging, the drill-down (audited), and bad input."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date

import httpx
import pytest

from tests.conftest import BACKENDS
from tests.study_samples import add_sample_studies
from tests.web.conftest import Web, start_web

PASSWORD = "a long enough password"


@dataclass
class Archive:
    web: Web
    http: httpx.Client
    uids: dict[str, str]

    def patients(self, query: str) -> list[str]:
        answer = self.http.get(f"/viewer/api/studies?{query}")
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["total"] == len(body["studies"])
        return [s["patient_id"] or "slide" for s in body["studies"]]


@pytest.fixture(scope="module", params=BACKENDS)
def archive(request: pytest.FixtureRequest,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[Archive]:
    """One archive per backend for the whole module: the tests only read (and view)."""
    tmp_path = tmp_path_factory.mktemp("study-list")
    database_url = ""
    if request.param == "postgresql":
        database_url = request.getfixturevalue("postgres_cluster").create_database()
    for web in start_web(tmp_path, database_url):
        uids = add_sample_studies(web.app, tmp_path / "files", date.today())
        web.app.accounts.add("reader", "user", PASSWORD)
        with httpx.Client(base_url=web.root.removesuffix("/dicom-web"), timeout=60) as http:
            assert http.post("/viewer/api/login", json={"username": "reader",
                                                         "password": PASSWORD}).status_code == 200
            yield Archive(web, http, uids)


@pytest.mark.parametrize(("query", "expected"), [
    ("", ["P300", "slide", "P100", "P200"]),  # newest first (the slide is dated today too)
    ("patientid=P100", ["P100"]),
    ("patientid===p200", ["P200"]),
    ("patientid=P*", ["P300", "P100", "P200"]),
    ("modality=!=CT", ["P300", "slide", "P200"]),
    ("seriesnumber=>>2", ["P300", "slide", "P200"]),
    ("seriesnumber=>=3", ["P300", "slide", "P200"]),
    ("seriesnumber=<<3", ["P100"]),
    ("studydate=<=2023/06/10", ["P200"]),
    ("patientbirthdate=<<1970/01/01", ["P200"]),
    ("patientname=**oe", ["P300", "P100", "P200"]),
    ("studydescription=**KNEE", ["P200"]),
    ("patientname=doe jane", ["P100"]),
    ("patientsex=m", ["P300", "P200"]),
    ("patientid=P100&patientid=P300", ["P300", "P100"]),
    ("modality=ct&modality=MR", ["P100", "P200"]),
    ("studydate==~2023/01/01~2024/12/31", ["P100", "P200"]),
    ("studydate==~~2023/12/31", ["P200"]),
    ("studydate=today&modality=CR", ["P300"]),
    ("studytime=08:30", ["P200"]),
    ("bodypartexamined=hand", ["P300"]),
    ("caseid=S26-04711", ["slide"]),
    ("slideid=a1", ["slide"]),
    ("barcode=**04711", ["slide"]),
    ("accessionnumber=ACC-B&patientsex=F", []),
])
def test_each_operator_kind_selects_the_right_studies(archive: Archive, query: str,
                                                      expected: list[str]) -> None:
    assert archive.patients(query) == expected


def test_uid_keys_at_each_level_find_their_study(archive: Archive) -> None:
    detail = archive.http.get(f"/viewer/api/studies/{archive.uids['richard']}").json()
    series = detail["series"][0]
    instance = series["instances"][0]["sop_instance_uid"]
    assert archive.patients(f"studyinstanceuid={archive.uids['richard']}") == ["P200"]
    assert archive.patients(f"seriesinstanceuid={series['series_instance_uid']}") == ["P200"]
    assert archive.patients(f"sopinstanceuid={instance}") == ["P200"]


def test_sorting_and_paging(archive: Archive) -> None:
    assert archive.patients("sort=patientid&order=asc") == ["slide", "P100", "P200", "P300"]
    assert archive.patients("sort=patientid&order=desc") == ["P300", "P200", "P100", "slide"]
    page = archive.http.get("/viewer/api/studies?sort=patientid&limit=2&offset=2").json()
    assert page["total"] == 4 and [s["patient_id"] for s in page["studies"]] == ["P200", "P300"]
    assert (page["limit"], page["offset"]) == (2, 2)


def test_a_row_carries_counts_modalities_first_series_and_slide_values(archive: Archive) -> None:
    [slide] = archive.http.get("/viewer/api/studies?barcode=S26-04711 A1").json()["studies"]
    assert slide["modalities"] == ["SM"] and slide["series"] == 1 and slide["instances"] >= 2
    assert slide["slide_ids"] == ["A1"] and slide["case_ids"] == ["S26-04711"]
    assert slide["first_series_uid"]
    [jane] = archive.http.get("/viewer/api/studies?patientid=P100").json()["studies"]
    assert jane["patient_name"] == "DOE^JANE" and jane["instances"] == 2
    assert jane["study_date"] == "20240115" and jane["accession_number"] == "ACC-A"


def test_the_drill_down_lists_series_and_instances_and_is_audited(archive: Archive) -> None:
    uid = archive.uids["jane"]
    detail = archive.http.get(f"/viewer/api/studies/{uid}").json()
    assert detail["study"]["study_instance_uid"] == uid
    [series] = detail["series"]
    assert series["modality"] == "CT" and series["body_part"] == "CHEST"
    assert [i["instance_number"] for i in series["instances"]] == [1, 2]
    entry = archive.web.app.audit.recent(actor="reader", action="study.view")[0]
    assert entry.target == uid and entry.address == "127.0.0.1" and "P100" in entry.detail


@pytest.mark.parametrize(("query", "named"), [
    ("colour=red", "colour"), ("studydate=2018/13/45", "studydate"),
    ("accessionnumber=1&accessionnumber=2", "accessionnumber"), ("limit=9999", "limit"),
    ("sort=barcode", "sort"),
])
def test_bad_input_gets_400_naming_the_parameter(archive: Archive, query: str,
                                                 named: str) -> None:
    answer = archive.http.get(f"/viewer/api/studies?{query}")
    assert answer.status_code == 400 and named in answer.json()["detail"]


def test_unknown_study_is_404_and_not_audited(archive: Archive) -> None:
    before = archive.web.app.audit.recent(action="study.view")
    assert archive.http.get("/viewer/api/studies/1.2.3.999").status_code == 404
    assert archive.web.app.audit.recent(action="study.view") == before


def test_the_list_needs_a_log_in(archive: Archive) -> None:
    with httpx.Client(base_url=str(archive.http.base_url), timeout=60) as anonymous:
        assert anonymous.get("/viewer/api/studies").status_code == 401
        assert anonymous.get(f"/viewer/api/studies/{archive.uids['jane']}").status_code == 401
