"""Browser sessions and one-time-key log-ins over HTTP, on SQLite and PostgreSQL: cookies,
CSRF, forced password change, the ``accounts`` access mode, URL log-ins and OTP codes."""

from __future__ import annotations

import base64
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from tests.web.conftest import Web, start_web

PASSWORD = "a long enough password"
EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "otp_login.py"


def base_of(web: Web) -> str:
    return web.root.removesuffix("/dicom-web")


@pytest.fixture
def client(web: Web) -> Iterator[httpx.Client]:
    """A client at the front's root (not /dicom-web) with the user ``reader``."""
    web.app.accounts.add("reader", "user", PASSWORD)
    with httpx.Client(base_url=base_of(web), timeout=60) as http:
        yield http


def log_in(http: httpx.Client, username: str = "reader", password: str = PASSWORD) -> dict:
    answer = http.post("/viewer/api/login", json={"username": username, "password": password})
    assert answer.status_code == 200, answer.text
    return answer.json()


def encrypt(public_pem: str, plain: str, algorithm: type[hashes.HashAlgorithm] = hashes.SHA256
            ) -> str:
    key = serialization.load_pem_public_key(public_pem.encode())
    assert isinstance(key, rsa.RSAPublicKey)
    cipher = key.encrypt(plain.encode(), padding.OAEP(mgf=padding.MGF1(algorithm()),
                                                      algorithm=algorithm(), label=None))
    return base64.urlsafe_b64encode(cipher).rstrip(b"=").decode()


def otp_code(http: httpx.Client, user: str = "reader", password: str = PASSWORD) -> str:
    key = http.get("/viewer/api/otp/").json()
    return encrypt(key["public_key"], urlencode({"id": user, "password": password}))


def test_log_in_sets_an_http_only_strict_session_cookie_and_me_names_the_account(
        client: httpx.Client) -> None:
    answer = client.post("/viewer/api/login", json={"username": "READER", "password": PASSWORD})
    assert answer.status_code == 200
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith("slidepacs_session=")
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie  # plain HTTP: a Secure cookie would never come back
    me = client.get("/viewer/api/me").json()
    assert me["username"] == "reader" and me["role"] == "user" and len(me["csrf"]) > 20


def test_wrong_password_is_401_and_sets_no_cookie(client: httpx.Client, web: Web) -> None:
    answer = client.post("/viewer/api/login", json={"username": "reader", "password": "nope"})
    assert answer.status_code == 401 and "set-cookie" not in answer.headers
    assert client.get("/viewer/api/me").status_code == 401
    assert web.app.audit.recent(actor="reader")[0].action == "login.failed"


def test_a_change_without_the_csrf_token_is_refused_and_changes_nothing(
        client: httpx.Client) -> None:
    csrf = log_in(client)["csrf"]
    assert client.post("/viewer/api/logout").status_code == 403
    assert client.post("/viewer/api/logout", headers={"X-CSRF-Token": "forged"}).status_code == 403
    assert client.get("/viewer/api/me").status_code == 200  # still logged in
    assert client.post("/viewer/api/logout", headers={"X-CSRF-Token": csrf}).status_code == 200
    assert client.get("/viewer/api/me").status_code == 401


def test_forced_password_change_blocks_dicomweb_until_done_and_renews_the_session(
        web: Web) -> None:
    initial = web.app.accounts.add("newcomer", "user")
    assert initial is not None
    with httpx.Client(base_url=base_of(web), timeout=60) as http:
        me = log_in(http, "newcomer", initial)
        assert me["must_change_password"] is True
        old_cookie = http.cookies["slidepacs_session"]
        assert http.get("/dicom-web/studies").status_code == 403
        short = http.post("/viewer/api/password", json={"old": initial, "new": "short"},
                          headers={"X-CSRF-Token": me["csrf"]})
        assert short.status_code == 400 and "12 characters" in short.json()["detail"]
        changed = http.post("/viewer/api/password", json={"old": initial, "new": PASSWORD + "!"},
                            headers={"X-CSRF-Token": me["csrf"]})
        assert changed.status_code == 200 and changed.json()["must_change_password"] is False
        assert http.cookies["slidepacs_session"] != old_cookie
        assert http.get("/dicom-web/studies").status_code in (200, 204)
    with httpx.Client(base_url=base_of(web), timeout=60) as stale:
        stale.cookies.set("slidepacs_session", old_cookie)
        assert stale.get("/viewer/api/me").status_code == 401  # the old session ended


def test_accounts_mode_lets_sessions_and_tokens_into_dicomweb_and_nobody_else(
        tmp_path: Path, database_url: str) -> None:
    from slidepacs.domain.tokens import new_token
    token, digest = new_token()
    for web in start_web(tmp_path, database_url, access="accounts", token_sha256=[digest]):
        web.app.accounts.add("reader", "user", PASSWORD)
        with httpx.Client(base_url=base_of(web), timeout=60) as http:
            assert http.get("/dicom-web/studies").status_code == 401
            assert http.get("/dicom-web/studies", headers={"Authorization": f"Bearer {token}"}
                            ).status_code in (200, 204)
            log_in(http)
            assert http.get("/dicom-web/studies").status_code in (200, 204)


def test_url_log_in_is_refused_unless_enabled(client: httpx.Client, tmp_path: Path,
                                              database_url: str) -> None:
    body = {"username": "reader", "password": PASSWORD, "via": "url"}
    refused = client.post("/viewer/api/login", json=body)
    assert refused.status_code == 403 and "http.url_login" in refused.json()["detail"]
    assert client.get("/viewer/api/config").json()["url_login"] is False
    for web in start_web(tmp_path / "on", database_url, url_login=True):
        if web.app.accounts.get("reader") is None:  # PostgreSQL: the same index as above
            web.app.accounts.add("reader", "user", PASSWORD)
        with httpx.Client(base_url=base_of(web), timeout=60) as http:
            assert http.get("/viewer/api/config").json()["url_login"] is True
            assert http.post("/viewer/api/login", json=body).status_code == 200


def test_an_otp_code_logs_in_once_and_a_reused_code_gets_401(client: httpx.Client,
                                                             web: Web) -> None:
    key = client.get("/viewer/api/otp/").json()
    assert key["public_key"].startswith("-----BEGIN PUBLIC KEY-----")
    assert key["algorithm"] == "RSA-OAEP" and key["expires_in"] == 60
    code = encrypt(key["public_key"], "id=reader&password=" + PASSWORD.replace(" ", "%20"))
    first = client.post("/viewer/api/login", json={"code": code})
    assert first.status_code == 200 and first.json()["username"] == "reader"
    with httpx.Client(base_url=base_of(web), timeout=60) as other:
        again = other.post("/viewer/api/login", json={"code": code})
        assert again.status_code == 401 and "used already" in again.json()["detail"]
        assert "set-cookie" not in again.headers


def test_otp_codes_with_sha1_oaep_work_and_wrong_credentials_inside_get_401(
        client: httpx.Client) -> None:
    key = client.get("/viewer/api/otp/").json()
    code = encrypt(key["public_key"], urlencode({"id": "reader", "password": PASSWORD}),
                   hashes.SHA1)
    assert client.post("/viewer/api/login", json={"code": code}).status_code == 200
    wrong = otp_code(client, password="not the password")
    assert client.post("/viewer/api/login", json={"code": wrong}).status_code == 401


@pytest.mark.parametrize("code", ["", "!!!not base64!!!", "A" * 5000,
                                  base64.urlsafe_b64encode(b"x" * 256).decode()])
def test_garbage_otp_codes_get_a_clear_401_or_400(client: httpx.Client, code: str) -> None:
    client.get("/viewer/api/otp/")
    answer = client.post("/viewer/api/login", json={"code": code})
    assert answer.status_code in (400, 401)
    assert answer.json()["detail"]
    assert client.get("/viewer/api/me").status_code == 401


def test_a_code_made_with_a_key_not_issued_here_gets_401(client: httpx.Client) -> None:
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    pem = stranger.public_bytes(serialization.Encoding.PEM,
                                serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    client.get("/viewer/api/otp/")
    code = encrypt(pem, urlencode({"id": "reader", "password": PASSWORD}))
    assert client.post("/viewer/api/login", json={"code": code}).status_code == 401


def test_an_expired_otp_key_no_longer_opens_its_code(tmp_path: Path, database_url: str) -> None:
    for web in start_web(tmp_path, database_url, otp_seconds=5):
        web.app.accounts.add("reader", "user", PASSWORD)
        with httpx.Client(base_url=base_of(web), timeout=60) as http:
            code = otp_code(http)
            time.sleep(5.3)
            answer = http.post("/viewer/api/login", json={"code": code})
            assert answer.status_code == 401 and "expired" in answer.json()["detail"]


def test_the_documented_example_client_logs_in_with_a_one_time_code(
        client: httpx.Client, web: Web) -> None:
    done = subprocess.run([sys.executable, str(EXAMPLE), base_of(web), "reader"],
                          capture_output=True, text=True, timeout=120,
                          env={"SLIDEPACS_PASSWORD": PASSWORD, "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "200 reader"
    assert [e.action for e in web.app.audit.recent(actor="reader")][:1] == ["login"]


def test_under_https_the_session_cookie_is_secure(tmp_path: Path, database_url: str) -> None:
    for web in start_web(tmp_path, database_url, tls=True):
        web.app.accounts.add("reader", "user", PASSWORD)
        answer = web.http.post(base_of(web) + "/viewer/api/login",
                               json={"username": "reader", "password": PASSWORD})
        assert answer.status_code == 200
        assert "Secure" in answer.headers["set-cookie"]


def test_one_client_asking_for_too_many_one_time_keys_gets_429(client: httpx.Client) -> None:
    from slidepacs.web.session_api import ONE_TIME_KEYS_PER_MINUTE
    for _ in range(ONE_TIME_KEYS_PER_MINUTE):
        assert client.get("/viewer/api/otp/").status_code == 200
    refused = client.get("/viewer/api/otp/")
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
