"""The admin pages' API under /viewer/api/admin on SQLite and PostgreSQL: roles, CSRF, bad
input refused naming the field with nothing changed, every change audited with the web user
and address, the dashboard figures, and a real C-ECHO."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest

from slidepacs.services.importer import ImportItem
from slidepacs.testing.generators import write_ct_series
from slidepacs.testing.orthanc import free_port
from tests.protocol.test_forwarding import StoreScp
from tests.web.conftest import Web, start_web

ADMIN, LAB, USER = "chief", "labby", "reader"
PASSWORD = "correct horse battery"


@dataclass
class Client:
    """An httpx client logged in as one account, sending its CSRF token."""

    http: httpx.Client
    csrf: str

    def call(self, method: str, path: str, json: Any = None, csrf: bool = True
             ) -> httpx.Response:
        headers = {"X-CSRF-Token": self.csrf} if csrf else {}
        return self.http.request(method, f"/viewer/api/admin/{path}", json=json,
                                 headers=headers)


@pytest.fixture
def site(tmp_path: Path, database_url: str) -> Iterator[Web]:
    """A running archive with an admin, a lab admin and a user."""
    for web in start_web(tmp_path, database_url):
        web.app.accounts.add(ADMIN, "admin", PASSWORD)
        web.app.accounts.add(LAB, "lab_admin", PASSWORD)
        web.app.accounts.add(USER, "user", PASSWORD)
        yield web


def client(web: Web, username: str) -> Iterator[Client]:
    base = web.root.removesuffix("/dicom-web")
    with httpx.Client(base_url=base, timeout=60) as http:
        response = http.post("/viewer/api/login",
                             json={"username": username, "password": PASSWORD})
        assert response.status_code == 200, response.text
        yield Client(http, response.json()["csrf"])


@pytest.fixture
def chief(site: Web) -> Iterator[Client]:
    yield from client(site, ADMIN)


@pytest.fixture
def labby(site: Web) -> Iterator[Client]:
    yield from client(site, LAB)


@pytest.fixture
def reader(site: Web) -> Iterator[Client]:
    yield from client(site, USER)


def last_audit(web: Web, action: str) -> Any:
    entries = web.app.audit.recent(1, action=action)
    assert entries, f"no audit entry {action}"
    return entries[0]


# -- access ------------------------------------------------------------------------------------

READS = ["dashboard", "dicom", "storage", "forwarding", "accounts", "audit"]
CHANGES = [("POST", "aes", {"name": "x", "ae_title": "X", "host": "127.0.0.1", "port": 104}),
           ("DELETE", "aes/x", None), ("POST", "aes/x/echo", None),
           ("POST", "accounts", {"username": "n", "role": "user"}),
           ("PUT", f"accounts/{USER}/role", {"role": "admin"}),
           ("POST", f"accounts/{USER}/password", None), ("POST", f"accounts/{USER}/unlock", None),
           ("DELETE", f"accounts/{USER}", None),
           ("POST", "forwarding/rules", {"name": "r", "destination": "x"}),
           ("DELETE", "forwarding/rules/r", None), ("POST", "forwarding/queue/X/retry", None)]


def test_a_user_gets_403_on_every_admin_route(site: Web, reader: Client) -> None:
    for path in READS:
        assert reader.call("GET", path).status_code == 403, path
    for method, path, body in CHANGES:
        assert reader.call(method, path, body).status_code == 403, (method, path)
    assert site.app.accounts.get(USER).role.value == "user"  # type: ignore[union-attr]


def test_without_a_session_every_admin_route_is_401(site: Web) -> None:
    base = site.root.removesuffix("/dicom-web")
    with httpx.Client(base_url=base, timeout=60) as http:
        for path in READS:
            assert http.get(f"/viewer/api/admin/{path}").status_code == 401, path
        for method, path, body in CHANGES:
            response = http.request(method, f"/viewer/api/admin/{path}", json=body)
            assert response.status_code == 401, (method, path)


def test_a_change_without_the_csrf_header_is_403_and_changes_nothing(site: Web,
                                                                     chief: Client) -> None:
    response = chief.call("POST", "aes", {"name": "pacs", "ae_title": "PACS",
                                          "host": "127.0.0.1", "port": 104}, csrf=False)
    assert response.status_code == 403 and "x-csrf-token" in response.json()["detail"]
    assert site.app.registry.list() == []
    assert chief.call("DELETE", f"accounts/{USER}", csrf=False).status_code == 403
    assert site.app.accounts.get(USER) is not None


def test_a_lab_admin_may_not_use_accounts_or_the_audit_log(site: Web, labby: Client) -> None:
    assert labby.call("GET", "accounts").status_code == 403
    assert labby.call("GET", "audit").status_code == 403
    assert labby.call("POST", "accounts", {"username": "x1", "role": "admin"}).status_code == 403
    assert site.app.accounts.get("x1") is None
    assert labby.call("GET", "dashboard").status_code == 200
    assert labby.call("GET", "dicom").status_code == 200


# -- dashboard and storage ---------------------------------------------------------------------

def test_the_dashboard_counts_imported_instances_and_those_of_the_last_hour(
        site: Web, chief: Client, tmp_path: Path) -> None:
    paths = write_ct_series(tmp_path / "ct", 3, size=32)
    site.app.importer.run([ImportItem(p, p.parent) for p in paths])
    body = chief.call("GET", "dashboard").json()
    assert body["counts"] == {"patients": 1, "studies": 1, "series": 1, "instances": 3,
                              "bytes": body["counts"]["bytes"]}
    assert body["counts"]["bytes"] > 0
    assert body["received_last_hour"] == 3
    data = body["locations"][0]
    assert data["role"] == "data" and data["instances"] == 3
    assert data["used_bytes"] >= body["counts"]["bytes"] and data["disk_free_bytes"] > 0
    # two hours from now, nothing was received in the last hour
    later = site.app.overview.dashboard(datetime.now(timezone.utc) + timedelta(hours=2))
    assert later.received_last_hour == 0 and later.counts.instances == 3


def test_the_dashboard_lists_failed_log_ins_newest_first(site: Web, chief: Client) -> None:
    base = site.root.removesuffix("/dicom-web")
    with httpx.Client(base_url=base) as http:
        for name in ("first-bad", "second-bad"):
            http.post("/viewer/api/login", json={"username": name, "password": "nope"})
    errors = chief.call("GET", "dashboard").json()["errors"]
    logins = [e for e in errors if e["source"] == "login"]
    assert [e["summary"].split(" ")[0] for e in logins[:2]] == ["second-bad", "first-bad"]


def test_storage_lists_the_data_path_and_says_verify_is_the_clis(site: Web,
                                                                labby: Client) -> None:
    body = labby.call("GET", "storage").json()
    assert [loc["path"] for loc in body["locations"]] == [
        str(p) for p in site.app.store.locations]
    assert body["verify"]["available"] is False
    assert body["verify"]["command"] == "slidepacs storage verify"


# -- DICOM provider and users ------------------------------------------------------------------

def test_dicom_shows_the_provider_and_registered_aes(site: Web, labby: Client) -> None:
    site.app.registry.add("viewer", "VIEWER", "10.0.0.5", 104)
    body = labby.call("GET", "dicom").json()
    assert body["provider"]["ae_title"] == site.app.settings.dicom.ae_title
    assert body["provider"]["port"] == site.app.settings.dicom.port
    assert body["provider"]["slide_receiver"]["ae_title"] == "SVS_STORE_SCP"
    assert body["provider"]["accept_unregistered"] is False
    assert body["aes"] == [{"name": "viewer", "ae_title": "VIEWER", "host": "10.0.0.5",
                            "port": 104, "auto_registered": False}]


def test_adding_and_removing_an_ae_is_audited_with_the_web_user(site: Web,
                                                                labby: Client) -> None:
    response = labby.call("POST", "aes", {"name": "pacs", "ae_title": "PACS",
                                          "host": "127.0.0.1", "port": 4242})
    assert response.status_code == 201
    assert [ae.ae_title for ae in site.app.registry.list()] == ["PACS"]
    entry = last_audit(site, "ae.add")
    assert (entry.actor, entry.target, entry.address) == (LAB, "pacs", "127.0.0.1")
    assert labby.call("DELETE", "aes/pacs").status_code == 200
    assert site.app.registry.list() == []
    entry = last_audit(site, "ae.remove")
    assert (entry.actor, entry.target, entry.address) == (LAB, "pacs", "127.0.0.1")
    assert labby.call("DELETE", "aes/pacs").status_code == 404


@pytest.mark.parametrize("field,value", [("ae_title", "A\\B"), ("host", "not a host!"),
                                         ("port", 70000), ("name", " ")])
def test_a_bad_ae_is_refused_naming_the_field(site: Web, labby: Client, field: str,
                                              value: Any) -> None:
    body = {"name": "pacs", "ae_title": "PACS", "host": "127.0.0.1", "port": 104, field: value}
    response = labby.call("POST", "aes", body)
    assert response.status_code == 400
    assert field in response.json()["detail"]
    assert site.app.registry.list() == []
    assert site.app.audit.recent(5, action="ae.add") == []


def test_echo_reaches_a_running_peer_and_reports_a_closed_port(site: Web, labby: Client,
                                                               tmp_path: Path) -> None:
    peer = StoreScp(tmp_path / "peer", "PEER")
    peer.start()
    try:
        site.app.registry.add("peer", "PEER", "127.0.0.1", peer.port)
        site.app.registry.add("gone", "GONE", "127.0.0.1", free_port())
        good = labby.call("POST", "aes/peer/echo").json()
        assert good["ok"] is True and good["status"] == 0 and good["error"] == ""
        assert good["milliseconds"] > 0
        bad = labby.call("POST", "aes/gone/echo").json()
        assert bad["ok"] is False and bad["status"] is None
        assert "no association" in bad["error"]
        assert labby.call("POST", "aes/nobody/echo").status_code == 404
    finally:
        peer.stop()


# -- accounts ----------------------------------------------------------------------------------

def test_accounts_lists_roles_and_live_sessions(site: Web, chief: Client,
                                               reader: Client) -> None:
    accounts = {a["username"]: a for a in chief.call("GET", "accounts").json()["accounts"]}
    assert set(accounts) == {ADMIN, LAB, USER}
    assert accounts[USER]["role"] == "user" and accounts[USER]["sessions"] == 1
    assert accounts[LAB]["sessions"] == 0 and accounts[USER]["last_login_at"]


def test_adding_an_account_without_password_returns_a_one_time_password(
        site: Web, chief: Client) -> None:
    body = chief.call("POST", "accounts", {"username": "newbie", "role": "lab_admin"}).json()
    assert len(body["password"]) >= 12
    account = site.app.accounts.get("newbie")
    assert account is not None and account.must_change_password
    assert site.app.accounts.authenticate("newbie", body["password"]).role.value == "lab_admin"
    entry = last_audit(site, "account.create")
    assert (entry.actor, entry.target, entry.address) == (ADMIN, "newbie", "127.0.0.1")


@pytest.mark.parametrize("body,field", [
    ({"username": "bad name!", "role": "user"}, "username"),
    ({"username": "fine", "role": "emperor"}, "role"),
    ({"username": "fine", "role": "user", "password": "short"}, "password")])
def test_a_bad_account_is_refused_naming_the_field(site: Web, chief: Client,
                                                   body: dict[str, str], field: str) -> None:
    response = chief.call("POST", "accounts", body)
    assert response.status_code == 400 and response.json()["detail"].startswith(f"{field}:")
    assert {a.username for a in site.app.accounts.accounts()} == {ADMIN, LAB, USER}


def test_role_change_reset_unlock_and_remove_end_sessions_and_are_audited(
        site: Web, chief: Client, reader: Client) -> None:
    changed = chief.call("PUT", f"accounts/{USER}/role", {"role": "lab_admin"}).json()
    assert changed["sessions_ended"] == 1
    assert reader.call("GET", "dashboard").status_code == 401  # the old session is gone
    assert site.app.accounts.get(USER).role.value == "lab_admin"  # type: ignore[union-attr]
    assert last_audit(site, "account.role").actor == ADMIN
    assert chief.call("PUT", f"accounts/{USER}/role", {"role": "king"}).status_code == 400
    reset = chief.call("POST", f"accounts/{USER}/password").json()
    assert site.app.accounts.authenticate(USER, reset["password"]).must_change_password
    assert (last_audit(site, "password.reset").actor, last_audit(site, "password.reset").target
            ) == (ADMIN, USER)
    assert chief.call("POST", f"accounts/{USER}/unlock").status_code == 200
    assert last_audit(site, "account.unlock").address == "127.0.0.1"
    assert chief.call("DELETE", f"accounts/{USER}").status_code == 200
    assert site.app.accounts.get(USER) is None
    assert last_audit(site, "account.remove").actor == ADMIN
    assert chief.call("DELETE", f"accounts/{USER}").status_code == 404
    assert chief.call("POST", "accounts/nobody/password").status_code == 404


def test_the_last_admin_cannot_be_removed_or_demoted(site: Web, chief: Client) -> None:
    removed = chief.call("DELETE", f"accounts/{ADMIN}")
    assert removed.status_code == 403 and "last admin" in removed.json()["detail"]
    demoted = chief.call("PUT", f"accounts/{ADMIN}/role", {"role": "user"})
    assert demoted.status_code == 403
    assert site.app.accounts.get(ADMIN).role.value == "admin"  # type: ignore[union-attr]
    assert chief.call("GET", "accounts").status_code == 200  # still logged in


# -- forwarding --------------------------------------------------------------------------------

def test_forwarding_rules_are_added_and_removed_with_an_audit_entry(site: Web,
                                                                    labby: Client) -> None:
    site.app.registry.add("pacs", "PACS", "127.0.0.1", 104)
    response = labby.call("POST", "forwarding/rules", {
        "name": "ct-out", "destination": "pacs", "modality": ["CT"],
        "tags": {"BodyPartExamined": ["CHEST"]}})
    assert response.status_code == 201, response.text
    rules = labby.call("GET", "forwarding").json()["rules"]
    assert [(r["name"], r["from_config"], r["registered"]) for r in rules] == [
        ("ct-out", False, True)]
    assert "modality CT" in rules[0]["criteria"]
    assert last_audit(site, "forward.rule.add").actor == LAB
    assert labby.call("DELETE", "forwarding/rules/ct-out").status_code == 200
    assert site.app.forwarding.rules.all() == []
    assert last_audit(site, "forward.rule.remove").target == "ct-out"
    assert labby.call("DELETE", "forwarding/rules/ct-out").status_code == 404


@pytest.mark.parametrize("body,field", [
    ({"name": "r", "destination": "nowhere"}, "destination"),
    ({"name": "r", "destination": "pacs", "modality": [""]}, "modality"),
    ({"name": "r", "destination": "pacs", "sop_class_uid": ["x.y"]}, "sop_class_uid"),
    ({"name": "r", "destination": "pacs", "tags": {"NoSuchKeyword": ["A"]}}, "tags"),
    ({"name": "", "destination": "pacs"}, "name")])
def test_a_bad_forwarding_rule_is_refused_naming_the_field(
        site: Web, labby: Client, body: dict[str, Any], field: str) -> None:
    site.app.registry.add("pacs", "PACS", "127.0.0.1", 104)
    response = labby.call("POST", "forwarding/rules", body)
    assert response.status_code == 400 and response.json()["detail"].startswith(f"{field}:"), \
        response.text
    assert site.app.forwarding.rules.all() == []
    assert site.app.audit.recent(5, action="forward.rule.add") == []


def test_retry_makes_the_queued_jobs_of_a_destination_due_and_is_audited(
        site: Web, labby: Client, tmp_path: Path) -> None:
    site.app.registry.add("pacs", "PACS", "127.0.0.1", free_port())
    assert labby.call("POST", "forwarding/rules", {
        "name": "all-ct", "destination": "pacs", "modality": ["CT"]}).status_code == 201
    paths = write_ct_series(tmp_path / "ct", 2, size=32)
    site.app.importer.run([ImportItem(p, p.parent) for p in paths])
    queue = labby.call("GET", "forwarding").json()["queue"]
    assert [(q["destination"], q["pending"]) for q in queue] == [("PACS", 2)]
    for job in site.app.forwarding.claim("PACS", 10):  # as the worker would: both attempts fail
        site.app.forwarding.fail(job, "connection refused")
    queue = labby.call("GET", "forwarding").json()["queue"]
    assert queue[0]["pending"] == 2 and queue[0]["last_error"] == "connection refused"
    errors = labby.call("GET", "dashboard").json()["errors"]
    assert [e["summary"] for e in errors if e["source"] == "forwarding"] == [
        "PACS: connection refused"]
    retried = labby.call("POST", "forwarding/queue/PACS/retry").json()
    assert retried == {"destination": "PACS", "failed_reset": 0, "pending_advanced": 2}
    entry = last_audit(site, "forward.retry")
    assert (entry.actor, entry.target, entry.address) == (LAB, "PACS", "127.0.0.1")


def test_retry_of_a_destination_without_jobs_is_404(site: Web, labby: Client) -> None:
    assert labby.call("POST", "forwarding/queue/PACS/retry").status_code == 404
    assert site.app.audit.recent(5, action="forward.retry") == []


# -- audit log ---------------------------------------------------------------------------------

def test_the_audit_log_pages_newest_first_and_filters(site: Web, chief: Client) -> None:
    for number in range(5):
        site.app.audit.record("someone", "test.action", f"t{number}")
    first = chief.call("GET", "audit?user=someone&size=2").json()
    assert [e["target"] for e in first["entries"]] == ["t4", "t3"] and first["more"]
    third = chief.call("GET", "audit?user=someone&size=2&page=3").json()
    assert [e["target"] for e in third["entries"]] == ["t0"] and not third["more"]
    logins = chief.call("GET", "audit?action=login").json()["entries"]
    assert logins and {e["action"] for e in logins} == {"login"}
    bad = chief.call("GET", "audit?page=0")
    assert bad.status_code == 400 and "page" in bad.json()["detail"]
