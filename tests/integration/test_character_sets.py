"""Character sets: names are stored decoded and found the way a user types them.

pydicom's character set samples cover single-byte sets, UTF-8, GB18030 and ISO 2022 escape
sequences (Japanese, Korean); generated files cover the configured default character set.
"""

from __future__ import annotations

from pathlib import Path

import pydicom
import pytest
from pydicom.uid import generate_uid

from slidepacs.bootstrap import AppContext, build_context
from slidepacs.config import settings_for
from slidepacs.domain.query import Level, Query, parse_condition
from slidepacs.services.ingest import Outcome
from slidepacs.testing.generators import PatientSpec, ct_dataset
from tests.media import (
    BACKENDS,
    archive_on,
    charset_file,
    index_content,
    invoke_slidepacs,
    write_config,
)

# Sample file → (Patient ID, the name as Unicode). chrFrenMulti and chrJapMultiExplicitIR6
# reuse other samples' SOP Instance UIDs, and chrSQEncoding* have no SOP Class: left out.
SAMPLES = {
    "chrArab.dcm": ("SCSARAB", "قباني^لنزار"),
    "chrFren.dcm": ("SCSFREN", "Buc^Jérôme"),
    "chrGerm.dcm": ("SCSGERM", "Äneas^Rüdiger"),
    "chrGreek.dcm": ("SCSGREEK", "Διονυσιος"),
    "chrH31.dcm": ("H31EXAMPLE", "Yamada^Tarou=山田^太郎=やまだ^たろう"),
    "chrH32.dcm": ("H32EXAMPLE", "ﾔﾏﾀﾞ^ﾀﾛｳ=山田^太郎=やまだ^たろう"),
    "chrHbrw.dcm": ("SCSHBRW", "שרון^דבורה"),
    "chrI2.dcm": ("I2EXAMPLE", "Hong^Gildong=洪^吉洞=홍^길동"),
    "chrJapMulti.dcm": ("2008-4", "やまだ^たろう"),
    "chrKoreanMulti.dcm": ("2008-3", "김희중"),
    "chrRuss.dcm": ("SCSRUSS", "Люкceмбypг"),
    "chrX1.dcm": ("X1EXAMPLE", "Wang^XiaoDong=王^小東"),
    "chrX2.dcm": ("X2EXAMPLE", "Wang^XiaoDong=王^小东"),
}

# What a user types → the Patient IDs it must find (and nothing else).
SEARCHES = [
    ("yamada*", {"H31EXAMPLE"}),
    ("YAMADA^TAROU", {"H31EXAMPLE"}),
    ("yamada tarou", {"H31EXAMPLE"}),
    ("山田*", {"H31EXAMPLE", "H32EXAMPLE"}),
    ("山田^太郎", {"H31EXAMPLE", "H32EXAMPLE"}),
    ("やまだ*", {"H31EXAMPLE", "H32EXAMPLE", "2008-4"}),
    ("ﾔﾏﾀﾞ*", {"H32EXAMPLE"}),          # half-width katakana as typed
    ("ヤマダ*", {"H32EXAMPLE"}),         # full-width form of the same
    ("ÄNEAS*", {"SCSGERM"}),
    ("äneas*", {"SCSGERM"}),
    ("äneas rüdiger", {"SCSGERM"}),
    ("*RÜDIGER", {"SCSGERM"}),
    ("buc^jérôme", {"SCSFREN"}),
    ("BUC*", {"SCSFREN"}),
    ("ΔΙΟΝΥΣΙΟΣ", {"SCSGREEK"}),         # capital sigma matches the final ς
    ("διον*", {"SCSGREEK"}),
    ("люк*", {"SCSRUSS"}),
    ("שרון*", {"SCSHBRW"}),
    ("قباني*", {"SCSARAB"}),
    ("hong*", {"I2EXAMPLE"}),
    ("홍^길동", {"I2EXAMPLE"}),
    ("洪*", {"I2EXAMPLE"}),
    ("김*", {"2008-3"}),
    ("wang*", {"X1EXAMPLE", "X2EXAMPLE"}),
    ("王^小东", {"X2EXAMPLE"}),           # simplified (GB18030 sample)
    ("王^小東", {"X1EXAMPLE"}),           # traditional (UTF-8 sample)
    ("*xiaodong", {"X1EXAMPLE", "X2EXAMPLE"}),
    ("yamada", set()),                  # a single value matches whole components only
    ("tarou*", set()),
]


@pytest.fixture(scope="module", params=BACKENDS)
def samples(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """Every character set sample imported, once per backend (the tests only read it)."""
    with archive_on(request.param, request, tmp_path_factory.mktemp("chr") / "data") as app:
        paths = [charset_file(name) for name in SAMPLES]
        report = app.importer.run(app.importer.discover(paths, recursive=False)[0])
        assert (report.stored, report.failures) == (len(SAMPLES), [])
        yield app


def found_patient_ids(app: AppContext, keyword: str, typed: str) -> set[str]:
    """Patient IDs of the instances a query on ``keyword`` finds."""
    condition = parse_condition(keyword, typed)
    assert condition is not None
    with app.unit_of_work.read() as repo:
        rows = repo.find_instances(Query(Level.IMAGE, (condition,)))
        return {row.series.study.patient.patient_id for row in rows}


def stored_names(app: AppContext) -> dict[str, str]:
    """Patient ID → stored Patient's Name."""
    return {pid: row["patient_name"] for (pid, _), row in index_content(app)["patients"].items()}


def test_sample_names_are_stored_decoded(samples):
    assert stored_names(samples) == dict(SAMPLES.values())


@pytest.mark.parametrize(("typed", "expected"), SEARCHES, ids=[s[0] for s in SEARCHES])
def test_user_finds_names_as_typed_in_any_case_width_or_script(samples, typed, expected):
    assert found_patient_ids(samples, "PatientName", typed) == expected


def test_export_query_by_japanese_name_exports_only_that_patient(samples, tmp_path):
    config = write_config(samples.settings, tmp_path / "config")
    target = tmp_path / "out"
    result = invoke_slidepacs(config, "export", target, "--query", "PatientName=山田*")
    assert result.returncode == 0, result.stderr
    exported = pydicom.fileset.FileSet(target / "DICOMDIR")
    assert sorted(str(i.PatientID) for i in exported) == ["H31EXAMPLE", "H32EXAMPLE"]


# -- generated files ------------------------------------------------------------------------------
def write_named(folder: Path, name: bytes, charset: str | None, patient_id: str) -> Path:
    """A small CT whose Patient's Name is exactly ``name`` (raw bytes) under ``charset``.

    ``charset`` None leaves out Specific Character Set; "" writes it empty.
    """
    folder.mkdir(parents=True, exist_ok=True)
    ds = ct_dataset(PatientSpec(patient_id=patient_id, patient_name="PLACEHOLDER"),
                    generate_uid(), generate_uid(), 1, size=8)
    if charset is None:
        del ds.SpecificCharacterSet
    else:
        ds.SpecificCharacterSet = charset
    ds.PatientName = "N" * (len(name) + len(name) % 2)  # same length as the padded bytes
    path = folder / f"{patient_id}.dcm"
    ds.save_as(path, enforce_file_format=True)
    data = path.read_bytes()
    marker = b"N" * (len(name) + len(name) % 2)
    assert data.count(marker) == 1
    path.write_bytes(data.replace(marker, name + b" " * (len(name) % 2)))
    return path


def test_doe_john_typed_without_caret_finds_doe_caret_john(app, tmp_path):
    app.ingest.ingest_file(write_named(tmp_path, b"DOE^JOHN", "ISO_IR 192", "P1"))
    app.ingest.ingest_file(write_named(tmp_path, b"DOE^JANE", "ISO_IR 192", "P2"))
    assert found_patient_ids(app, "PatientName", "doe john") == {"P1"}
    assert found_patient_ids(app, "PatientName", "Doe*") == {"P1", "P2"}
    assert found_patient_ids(app, "PatientName", "*JOHN") == {"P1"}
    assert found_patient_ids(app, "PatientName", "d?e^j?hn") == {"P1"}


def test_utf8_name_is_stored_decoded_and_found_case_insensitively(app, tmp_path):
    name = "Müller^Zoë"
    app.ingest.ingest_file(write_named(tmp_path, name.encode(), "ISO_IR 192", "P1"))
    assert stored_names(app) == {"P1": name}
    assert found_patient_ids(app, "PatientName", "MÜLLER*") == {"P1"}
    assert found_patient_ids(app, "PatientName", "müller zoë") == {"P1"}


def archive_with_default(tmp_path: Path, database_url: str, default: str) -> AppContext:
    settings = settings_for(tmp_path / f"data-{default.replace(' ', '_')}",
                            database={"url": database_url}, character_set={"default": default})
    return build_context(settings)


@pytest.mark.parametrize(("default", "raw", "expected"), [
    ("ISO_IR 100", "José^Renée".encode("latin-1"), "José^Renée"),
    ("ISO_IR 192", "José^Renée".encode(), "José^Renée"),
    ("GB18030", "王^小东".encode("gb18030"), "王^小东"),
    ("ISO_IR 144", "Люкс^Ирина".encode("iso8859_5"), "Люкс^Ирина"),
], ids=["latin1", "utf8", "gb18030", "cyrillic"])
@pytest.mark.parametrize("declared", [None, ""], ids=["absent", "empty"])
def test_file_without_character_set_is_decoded_with_the_configured_default(
    tmp_path, database_url, default, raw, expected, declared
):
    app = archive_with_default(tmp_path, database_url, default)
    try:
        result = app.ingest.ingest_file(write_named(tmp_path / "in", raw, declared, "P1"))
        assert result.outcome is Outcome.STORED
        assert stored_names(app) == {"P1": expected}
        assert found_patient_ids(app, "PatientName", expected.upper()[:3] + "*") == {"P1"}
    finally:
        app.close()


def test_declared_character_set_wins_over_the_configured_default(tmp_path, database_url):
    app = archive_with_default(tmp_path, database_url, "ISO_IR 100")
    try:
        app.ingest.ingest_file(write_named(tmp_path / "in", "Zoë".encode(), "ISO_IR 192", "P1"))
        assert stored_names(app) == {"P1": "Zoë"}
    finally:
        app.close()


def test_the_default_matters_latin1_bytes_under_a_utf8_default_are_not_josé(
    tmp_path, database_url
):
    app = archive_with_default(tmp_path, database_url, "ISO_IR 192")
    try:
        raw = "José".encode("latin-1")
        app.ingest.ingest_file(write_named(tmp_path / "in", raw, None, "P1"))
        assert stored_names(app)["P1"] != "José"
    finally:
        app.close()
