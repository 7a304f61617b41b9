"""``slidepacs user …`` and ``slidepacs audit`` through the real command (SQLite and
PostgreSQL): passwords shown once and stored only as hashes, bad input refused with one
line, and every change in the audit log with who and from where."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.cli import run_slidepacs, toml_config


@pytest.fixture
def cwd(tmp_path: Path, database_url: str) -> Path:
    folder = tmp_path / "cwd"
    toml_config(folder, tmp_path / "data", database_url=database_url)
    return folder


def _ok(cwd: Path, *args: str, stdin: str | None = None) -> str:
    result = run_slidepacs(*args, cwd=cwd, input=stdin)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_users_are_added_listed_reset_and_audited(cwd: Path) -> None:
    added = _ok(cwd, "user", "add", "grace", "--role", "lab_admin")
    [password] = re.findall(r"shown only now; to be changed at first log-in\): (\S+)", added)
    assert len(password) >= 16
    _ok(cwd, "user", "add", "heidi", "--password-stdin", stdin="a long enough secret\n")
    listed = _ok(cwd, "user", "list")
    assert "grace" in listed and "lab_admin" in listed and "must change password" in listed
    assert password not in listed
    assert "grace is now user." in _ok(cwd, "user", "role", "grace", "user")
    assert "Unlocked grace." in _ok(cwd, "user", "unlock", "grace")
    assert "Removed grace." in _ok(cwd, "user", "remove", "grace")
    reset = _ok(cwd, "user", "passwd", "heidi")
    assert "to be changed at next log-in" in reset
    audit = _ok(cwd, "audit")
    assert audit.count("account.create") == 2 and "password.reset" in audit
    for action in ("account.role", "account.unlock", "account.remove"):
        assert action in audit
    assert "cli:" in audit
    stored = (cwd.parent / "data").rglob("index.sqlite*")
    for database in stored:  # SQLite: the file never holds a password in the clear
        assert password.encode() not in database.read_bytes()


def test_bad_user_commands_fail_with_one_line_and_change_nothing(cwd: Path) -> None:
    _ok(cwd, "user", "add", "ivan", "--role", "admin", "--password-stdin",
        stdin="another long secret\n")
    for args, stdin, message in [
        (("user", "add", "judy", "--role", "root"), None, "role 'root'"),
        (("user", "add", "judy", "--password-stdin"), "short\n", "at least 12"),
        (("user", "add", "IVAN"), None, "already exists"),
        (("user", "remove", "ivan"), None, "last admin"),
        (("user", "passwd", "nobody"), None, "no user"),
    ]:
        result = run_slidepacs(*args, cwd=cwd, input=stdin)
        assert result.returncode != 0, args
        assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1, \
            result.stderr
    listed = _ok(cwd, "user", "list")
    assert "ivan" in listed and "judy" not in listed
    assert _ok(cwd, "audit", "--action", "account.create").count("account.create") == 1
