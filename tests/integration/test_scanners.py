"""The scanner registry and the scanner API's service on SQLite and PostgreSQL: registration
and tokens, ONLINE/OFFLINE from the heartbeat timeout, clock skew, the configuration version
going up with every change to the scanner's images settings or image rules, an invalid
regular expression saving nothing, and posted metadata joined to its slide in both orders."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pydicom
import pytest

from slidepacs.bootstrap import AppContext, build_context
from slidepacs.config import Settings
from slidepacs.errors import Conflict, InvalidInput, NotAuthenticated, NotFound
from slidepacs.index.scanners import dicom_source
from slidepacs.services.image_rules import RuleChanges
from slidepacs.services.scanners import NewScanner
from tests.slide_series import slide_series

AE = "GT450_LAB1"


@pytest.fixture
def lab1(app: AppContext) -> str:
    """A registered scanner; its token."""
    return app.scanners.register(NewScanner("Lab 1", AE, model="GT 450"))[1]


def store_slide(app: AppContext, folder: Path, image_id: int, barcode: str = "") -> str:
    """A small WSI slide with Series Number = ``image_id``, stored as the DICOM front
    stores what the scanner's AE sends; its Series Instance UID."""
    folder.mkdir(parents=True, exist_ok=True)
    files = slide_series(folder, width=512, height=384)
    series_uid = ""
    for path in sorted(files.iterdir()):
        dataset = pydicom.dcmread(path)
        dataset.SeriesNumber = image_id
        if barcode:
            dataset.BarcodeValue = barcode
        dataset.save_as(path, enforce_file_format=True)
        series_uid = dataset.SeriesInstanceUID
        app.ingest.ingest_file(path, source=dicom_source(AE), sender=AE)
    return series_uid


def audit_actions(app: AppContext) -> list[str]:
    return [entry.action for entry in app.audit.recent(50)]


def test_registering_gives_a_token_once_that_authenticates_until_a_new_one_is_made(
        app: AppContext, lab1: str) -> None:
    assert app.scanners.authenticate(lab1, "10.0.0.5").name == "Lab 1"
    with pytest.raises(Conflict, match="AE title"):
        app.scanners.register(NewScanner("Lab 2", AE))
    with pytest.raises(Conflict, match="name"):
        app.scanners.register(NewScanner("lab 1", "OTHER_AE"))
    new = app.scanners.new_token("LAB 1")
    assert new != lab1
    with pytest.raises(NotAuthenticated):
        app.scanners.authenticate(lab1, "10.0.0.5")
    assert app.scanners.authenticate(new).name == "Lab 1"
    with app.unit_of_work.read() as repo:  # only the digest is kept
        assert repo.scanners.by_token(new) is None
    assert {"scanner.add", "scanner.token", "scanner.auth_failed"} <= set(audit_actions(app))


def test_a_wrong_or_missing_token_is_refused_and_audited_with_the_address(
        app: AppContext, lab1: str) -> None:
    for token in ("not-the-token", None):
        with pytest.raises(NotAuthenticated):
            app.scanners.authenticate(token, "192.0.2.9")
    failures = [e for e in app.audit.recent(10) if e.action == "scanner.auth_failed"]
    assert [(e.address, e.detail) for e in failures] == [("192.0.2.9", "no token"),
                                                          ("192.0.2.9", "wrong token")]


def test_bad_registrations_name_the_field(app: AppContext) -> None:
    for new, field in ((NewScanner("", AE), "name"), (NewScanner("x" * 65, AE), "name"),
                       (NewScanner("Lab", "BAD\\AE"), "ae_title"),
                       (NewScanner("Lab", AE, port=70000), "port"),
                       (NewScanner("Lab", AE, hostname="bad host!"), "hostname")):
        with pytest.raises(InvalidInput, match=f"^{field}:"):
            app.scanners.register(new)
    assert app.scanners.scanners() == []


def test_list_show_and_remove(app: AppContext, lab1: str) -> None:
    app.scanners.register(NewScanner("Lab 2", "GT450_LAB2", serial="0002"))
    app.scanners.authenticate(lab1)  # any authenticated request is a contact
    listed = app.scanners.scanners()
    assert [(s.scanner.name, s.scanner.serial, s.status) for s in listed] == [
        ("Lab 1", "", "ONLINE"), ("Lab 2", "0002", "OFFLINE")]
    assert app.scanners.show("lab 2").scanner.ae_title == "GT450_LAB2"
    app.scanners.remove("Lab 2")
    with pytest.raises(NotFound):
        app.scanners.show("Lab 2")
    assert [s.scanner.name for s in app.scanners.scanners()] == ["Lab 1"]


def test_a_scanner_is_online_after_a_heartbeat_and_offline_after_the_timeout(
        settings: Settings, lab1: str) -> None:
    quick = settings.model_copy(update={"scanner_api": settings.scanner_api.model_copy(
        update={"heartbeat_seconds": 1, "heartbeat_timeout_seconds": 2})})
    context = build_context(quick)
    try:
        assert context.scanners.show("Lab 1").status == "OFFLINE"  # never heard from
        scanner = context.scanners.authenticate(lab1, "10.0.0.5")
        context.scanners.heartbeat(scanner, {"time": datetime.now(timezone.utc).isoformat()},
                                   "10.0.0.5")
        assert context.scanners.show("Lab 1").status == "ONLINE"
        time.sleep(2.2)
        assert context.scanners.show("Lab 1").status == "OFFLINE"
    finally:
        context.close()


def test_a_heartbeat_records_clock_skew_state_and_identity(app: AppContext,
                                                           lab1: str) -> None:
    scanner = app.scanners.authenticate(lab1)
    ahead = (datetime.now(timezone.utc) + timedelta(seconds=30)).isoformat()
    answer = app.scanners.heartbeat(scanner, {
        "time": ahead, "state": "scanning", "model": "Aperio GT 450 DX",
        "serial": "GT450-0001", "software_version": "1.2.1"}, "10.0.0.5")
    assert 29 < answer["clock_skew_seconds"] < 31
    assert answer["config_version"] == app.scanners.config_version("Lab 1")
    shown = app.scanners.show("Lab 1").scanner
    assert (shown.state, shown.model, shown.serial, shown.software_version,
            shown.last_address) == ("scanning", "Aperio GT 450 DX", "GT450-0001", "1.2.1",
                                    "10.0.0.5")
    assert shown.clock_skew_seconds is not None and 29 < shown.clock_skew_seconds < 31
    for body, field in (({}, "time"), ({"time": "yesterday"}, "time"),
                        ({"time": "2026-12-04T06:00:00"}, "time"),
                        ({"time": ahead, "state": "x" * 33}, "state"), ([], "body")):
        with pytest.raises(InvalidInput, match=f"^{field}:"):
            app.scanners.heartbeat(scanner, body)


def test_the_config_version_goes_up_with_images_changes_and_rules_set(
        app: AppContext, lab1: str) -> None:
    scanner = app.scanners.authenticate(lab1)
    first = app.scanners.config(scanner)
    assert first["images"]["calling_title"] == AE
    assert first["images"]["title"] == "SVS_STORE_SCP"
    assert first["images"]["image_output_format"] == "DICOM"
    settings, version = app.scanners.update_images(
        "Lab 1", {"barcode_value_identifier": r"S\d+", "port": 11112,
                  "dimension_organization": "SPARSE", "require_barcode_id": True})
    assert version > first["version"]
    second = app.scanners.config(scanner)
    assert second["version"] == version
    assert (second["images"]["barcode_value_identifier"], second["images"]["port"],
            second["images"]["dimension_organization"],
            second["images"]["require_barcode_id"]) == (r"S\d+", 11112, "SPARSE", True)
    assert app.rules.show(AE)[0].spec.organization == "sparse"  # applies to ingest
    assert app.rules.show(AE)[0].scanner == "Lab 1"
    app.rules.set(AE, RuleChanges(case_id_regex=r"S\d+"))
    assert app.scanners.config(scanner)["version"] > second["version"]
    assert "scanner.images" in audit_actions(app)


def test_an_invalid_regex_saves_nothing(app: AppContext, lab1: str) -> None:
    app.scanners.update_images("Lab 1", {"barcode_value_identifier": r"\d+"})
    before = (app.scanners.images("Lab 1"), app.scanners.config_version("Lab 1"))
    with pytest.raises(InvalidInput, match=r"^barcode_value_modifier: '\(' is not a valid"):
        app.scanners.update_images("Lab 1", {"hostname": "10.1.1.1", "port": 4242,
                                             "barcode_value_modifier": "("})
    with pytest.raises(InvalidInput, match="^image_output_format:"):
        app.scanners.update_images("Lab 1", {"image_output_format": "TIFF"})
    with pytest.raises(InvalidInput, match="^title:"):
        app.scanners.update_images("Lab 1", {"title": "", "barcode_value_identifier": "x"})
    assert (app.scanners.images("Lab 1"), app.scanners.config_version("Lab 1")) == before


def test_metadata_posted_after_the_slide_joins_it_at_once(
        app: AppContext, lab1: str, tmp_path: Path) -> None:
    series = store_slide(app, tmp_path, 100042)
    scanner = app.scanners.authenticate(lab1)
    answer = app.scanners.post_metadata(scanner, {"image_id": "100042", "rack": 3})
    assert answer["joined"] is True and answer["series_instance_uid"] == series
    joined = app.scanners.metadata_of_series(series)
    assert [(m.scanner, m.image_id, m.payload["rack"]) for m in joined] == [
        ("Lab 1", "100042", 3)]


def test_metadata_posted_before_the_slide_waits_and_joins_when_it_is_stored(
        app: AppContext, lab1: str, tmp_path: Path) -> None:
    scanner = app.scanners.authenticate(lab1)
    answer = app.scanners.post_metadata(scanner, {"image_id": "7", "slot": 17})
    assert answer == {"image_id": "7", "joined": False, "study_instance_uid": None,
                      "series_instance_uid": None}
    series = store_slide(app, tmp_path, 7)
    assert app.scanners.metadata("Lab 1", "7").series_instance_uid == series
    assert [m.payload["slot"] for m in app.scanners.metadata_of_series(series)] == [17]


def test_metadata_of_an_unknown_image_id_joins_the_slide_with_its_barcode(
        app: AppContext, lab1: str, tmp_path: Path) -> None:
    series = store_slide(app, tmp_path, 5, barcode="S26-04711 A1")
    scanner = app.scanners.authenticate(lab1)
    answer = app.scanners.post_metadata(scanner, {"image_id": "999",
                                                  "barcode": "S26-04711 A1"})
    assert answer["joined"] is True and answer["series_instance_uid"] == series


def test_posting_the_same_image_id_again_replaces_the_metadata(app: AppContext,
                                                               lab1: str) -> None:
    scanner = app.scanners.authenticate(lab1)
    app.scanners.post_metadata(scanner, {"image_id": "42", "qc": "failed"})
    app.scanners.post_metadata(scanner, {"image_id": "42", "qc": "passed"})
    assert app.scanners.metadata("Lab 1", "42").payload == {"image_id": "42", "qc": "passed"}
    for body in ({}, {"image_id": ""}, {"image_id": "x" * 65}, {"image_id": "a\nb"}, [1]):
        with pytest.raises(InvalidInput, match="^(image_id|body):"):
            app.scanners.post_metadata(scanner, body)


def test_the_slide_receiver_admits_a_scanners_ae_only_from_where_its_token_was_used(
    app: AppContext, lab1: str
) -> None:
    title = app.scanners.show("Lab 1").scanner.ae_title
    assert not app.scanners.admits(title, "10.0.0.5")  # no authenticated request yet
    app.scanners.authenticate(lab1, "10.0.0.5")
    assert app.scanners.admits(title, "10.0.0.5")
    assert app.scanners.admits(f" {title} ", "10.0.0.5")
    assert not app.scanners.admits(title, "10.0.0.6")
    assert not app.scanners.admits("SOMEONE_ELSE", "10.0.0.5")
    assert not app.scanners.admits(title, "")
