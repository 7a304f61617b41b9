"""The scanner API over real HTTPS (lab CA) on SQLite and PostgreSQL, and the Scanners admin
API of the HTTP front: 401 for a wrong or missing token (audited with the address), the
configuration with ETag / 304 and a new version after an administrator's change, heartbeats,
metadata, 413 and 422; the admin API registers, lists, renews tokens, removes, and refuses a
bad regular expression with 422 and nothing saved."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import httpx
import pytest

from slidepacs.bootstrap import AppContext, build_context, ensure_lab_pki, tls_files
from slidepacs.config import settings_for
from slidepacs.scanner.server import ScannerApiServer
from slidepacs.services.scanners import NewScanner
from slidepacs.testing.orthanc import free_port
from slidepacs.web.server import HttpServer
from tests.integration.test_scanners import store_slide
from tests.web.test_admin_api import PASSWORD, Client, client

AE = "GT450_LAB1"


@dataclass
class Site:
    """The archive, its scanner API client (HTTPS, lab CA) and its HTTP front's root."""

    app: AppContext
    api: httpx.Client
    web_root: str
    token: str

    @property
    def root(self) -> str:
        """The HTTP front's DICOMweb root (what tests.web.test_admin_api.client logs in to)."""
        return f"{self.web_root}/dicom-web"

    def bearer(self, token: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token or self.token}"}


@pytest.fixture
def site(tmp_path: Path, database_url: str) -> Iterator[Site]:
    """Both fronts of a fresh archive with one registered scanner and a lab admin."""
    settings = settings_for(tmp_path / "data", database={"url": database_url},
                            http={"port": free_port()},
                            scanner_api={"port": free_port(), "max_metadata_kb": 1})
    assert ensure_lab_pki(settings)  # the scanner API's TLS needs the lab CA
    app = build_context(settings)
    servers = [HttpServer(app), ScannerApiServer(app)]
    for server in servers:
        server.start()
    token = app.scanners.register(NewScanner("Lab 1", AE))[1]
    app.accounts.add("labby", "lab_admin", PASSWORD)
    api_root = servers[1].root
    assert api_root.startswith("https://")
    try:
        with httpx.Client(base_url=api_root, timeout=30,
                          verify=ssl.create_default_context(
                              cafile=str(tls_files(settings)[2]))) as api:
            yield Site(app, api, servers[0].base_url, token)
    finally:
        for server in servers:
            server.stop()
        app.close()


@pytest.fixture
def labby(site: Site) -> Iterator[Client]:
    yield from client(site, "labby")  # type: ignore[arg-type]


def now() -> str:
    return datetime.now(timezone.utc).isoformat()


def test_a_wrong_or_missing_token_gets_401_and_is_audited(site: Site) -> None:
    for headers in ({"Authorization": "Bearer wrong"}, {}, {"Authorization": "Basic eDp5"}):
        response = site.api.get("/config", headers=headers)
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
        assert "token" in response.json()["detail"]
    failed = [e for e in site.app.audit.recent(10) if e.action == "scanner.auth_failed"]
    assert len(failed) == 3 and {e.address for e in failed} == {"127.0.0.1"}


def test_config_has_an_etag_answers_304_and_changes_after_an_admin_edit(
        site: Site, labby: Client) -> None:
    first = site.api.get("/config", headers=site.bearer())
    assert first.status_code == 200
    document = first.json()
    assert document["scanner"] == "Lab 1" and document["images"]["calling_title"] == AE
    assert first.headers["etag"].startswith(f'"{document["version"]}-')
    same = site.api.get("/config", headers={**site.bearer(),
                                            "If-None-Match": first.headers["etag"]})
    assert same.status_code == 304 and same.content == b""
    edited = labby.call("PUT", "scanners/Lab 1/images",
                        {"barcode_value_identifier": r"S\d+", "port": 11112})
    assert edited.status_code == 200, edited.text
    changed = site.api.get("/config", headers={**site.bearer(),
                                               "If-None-Match": first.headers["etag"]})
    assert changed.status_code == 200
    assert changed.json()["version"] > document["version"]
    assert changed.json()["images"]["barcode_value_identifier"] == r"S\d+"
    assert changed.json()["images"]["port"] == 11112


def test_a_heartbeat_is_answered_with_server_time_version_and_skew(site: Site) -> None:
    response = site.api.post("/heartbeat", headers=site.bearer(),
                             json={"time": now(), "state": "idle", "serial": "GT-1"})
    assert response.status_code == 200, response.text
    answer = response.json()
    assert abs(answer["clock_skew_seconds"]) < 5
    assert answer["config_version"] == site.api.get(
        "/config", headers=site.bearer()).json()["version"]
    shown = site.app.scanners.show("Lab 1")
    assert (shown.status, shown.scanner.state, shown.scanner.serial) == ("ONLINE", "idle",
                                                                         "GT-1")


def test_posted_metadata_is_kept_and_bad_bodies_get_413_or_422_naming_the_field(
        site: Site) -> None:
    posted = site.api.post("/images", headers=site.bearer(),
                           json={"image_id": "100042", "barcode": "S26-1", "rack": 3})
    assert posted.status_code == 201, posted.text
    assert posted.json() == {"image_id": "100042", "joined": False,
                             "study_instance_uid": None, "series_instance_uid": None}
    assert site.app.scanners.metadata("Lab 1", "100042").payload["rack"] == 3
    too_large = site.api.post("/images", headers=site.bearer(),
                              json={"image_id": "1", "note": "x" * 2000})
    assert too_large.status_code == 413
    for body, field in (({"rack": 3}, "image_id"), ({"state": "idle"}, "time")):
        path = "/heartbeat" if field == "time" else "/images"
        response = site.api.post(path, headers=site.bearer(), json=body)
        assert response.status_code == 422
        assert response.json()["detail"].startswith(f"{field}:")
    not_json = site.api.post("/images", headers={**site.bearer(),
                                                 "Content-Type": "application/json"},
                             content=b"{not json")
    assert not_json.status_code == 422 and not_json.json()["detail"].startswith("body:")


def test_admin_api_registers_lists_renews_and_removes_scanners(site: Site,
                                                               labby: Client) -> None:
    added = labby.call("POST", "scanners", {"name": "Lab 2", "ae_title": "GT450_LAB2",
                                            "model": "GT 450"})
    assert added.status_code == 201, added.text
    token = added.json()["token"]
    assert site.api.get("/config", headers=site.bearer(token)).status_code == 200
    listed = labby.call("GET", "scanners").json()["scanners"]
    assert [(s["name"], s["status"]) for s in listed] == [("Lab 1", "OFFLINE"),
                                                           ("Lab 2", "ONLINE")]
    renewed = labby.call("POST", "scanners/Lab 2/token").json()["token"]
    assert site.api.get("/config", headers=site.bearer(token)).status_code == 401
    assert site.api.get("/config", headers=site.bearer(renewed)).status_code == 200
    assert labby.call("POST", "scanners", {"name": "Lab 3", "ae_title": "BAD\\AE"}
                      ).status_code == 400
    assert labby.call("DELETE", "scanners/Lab 2").status_code == 200
    assert site.api.get("/config", headers=site.bearer(renewed)).status_code == 401
    assert labby.call("POST", "scanners/Lab 1/token", csrf=False).status_code == 403
    actions = {(e.actor, e.action) for e in site.app.audit.recent(20)}
    assert {("labby", "scanner.add"), ("labby", "scanner.token"),
            ("labby", "scanner.remove")} <= actions


def test_admin_api_refuses_a_bad_regex_with_422_and_saves_nothing(site: Site,
                                                                  labby: Client) -> None:
    before = labby.call("GET", "scanners/Lab 1/images").json()
    assert {field["name"] for field in before["fields"]} == set(before["images"])
    assert all(field["help"] for field in before["fields"])
    refused = labby.call("PUT", "scanners/Lab 1/images",
                         {"port": 4242, "barcode_value_identifier": "([0-9]"})
    assert refused.status_code == 422
    assert refused.json()["detail"].startswith("barcode_value_identifier: '([0-9]' is not a "
                                               "valid regular expression")
    assert labby.call("GET", "scanners/Lab 1/images").json() == before
    assert not [e for e in site.app.audit.recent(20) if e.action == "scanner.images"]


def test_the_slide_viewer_info_carries_the_metadata_joined_to_the_slide(
        site: Site, labby: Client, tmp_path: Path) -> None:
    posted = site.api.post("/images", headers=site.bearer(),
                           json={"image_id": "31", "scan_seconds": 31.2})
    assert posted.json()["joined"] is False
    series = store_slide(site.app, tmp_path / "slide", 31)
    study = site.app.scanners.metadata("Lab 1", "31").study_instance_uid
    info = labby.http.get(f"/viewer/api/slides/{study}/{series}")
    assert info.status_code == 200, info.text
    [joined] = info.json()["scanner_metadata"]
    assert (joined["scanner"], joined["image_id"], joined["metadata"]["scan_seconds"]) == (
        "Lab 1", "31", 31.2)
