"""Accounts on SQLite and PostgreSQL: Argon2id hashes only, the first admin made once with a
password that must be changed, lockout after repeated failures, the last admin kept, and
every change and log-in in the audit log."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from slidepacs.bootstrap import AppContext
from slidepacs.domain.accounts import LOCKOUT_SECONDS, MAX_FAILED_LOGINS, Role
from slidepacs.errors import AccessDenied, Conflict, InvalidInput, NotFound
from slidepacs.index.tables import AccountTable
from slidepacs.services.accounts import AccountService

GOOD = "correct horse battery staple"


def _hashes(app: AppContext) -> dict[str, str]:
    with app.unit_of_work.read() as repo:
        rows = repo.session.execute(select(AccountTable.username, AccountTable.password_hash))
        return dict(rows.all())


def _actions(app: AppContext) -> list[tuple[str, str, str]]:
    return [(e.actor, e.action, e.target) for e in reversed(app.audit.recent(1000))]


def test_the_first_admin_is_made_once_with_a_password_to_change(app: AppContext) -> None:
    password = app.accounts.ensure_initial_admin()
    assert password and len(password) >= 16
    assert app.accounts.ensure_initial_admin() is None  # never twice, never a known default
    [admin] = app.accounts.accounts()
    assert admin.username == "admin" and admin.role is Role.ADMIN
    assert admin.must_change_password
    assert app.accounts.authenticate("admin", password).username == "admin"
    stored = _hashes(app)["admin"]
    assert stored.startswith("$argon2id$") and password not in stored


def test_a_user_logs_in_changes_the_password_and_the_old_one_stops_working(
    app: AppContext
) -> None:
    made = app.accounts.add("Alice", "user", actor="cli:root", address="lab-pc")
    assert made is not None
    assert app.accounts.authenticate("alice", made).must_change_password  # any case
    with pytest.raises(InvalidInput, match="at least 12"):
        app.accounts.change_password("alice", made, "short")
    app.accounts.change_password("alice", made, GOOD, address="10.0.0.7")
    with pytest.raises(AccessDenied, match="wrong user name or password"):
        app.accounts.authenticate("alice", made)
    account = app.accounts.authenticate("alice", GOOD)
    assert not account.must_change_password and account.last_login_at is not None
    actions = _actions(app)
    assert ("cli:root", "account.create", "Alice") in actions
    assert ("Alice", "password.change", "Alice") in actions
    assert ("Alice", "login.failed", "") in actions and ("Alice", "login", "") in actions


def test_repeated_failures_lock_the_account_even_for_the_right_password(
    app: AppContext
) -> None:
    now = [datetime(2026, 12, 4, 9, 0, tzinfo=timezone.utc)]
    accounts = AccountService(app.unit_of_work, app.audit, clock=lambda: now[0])
    accounts.add("bob", "lab_admin", GOOD)
    for _ in range(MAX_FAILED_LOGINS):
        with pytest.raises(AccessDenied):
            accounts.authenticate("bob", "not the password", "10.0.0.9")
    with pytest.raises(AccessDenied, match="locked"):
        accounts.authenticate("bob", GOOD)
    now[0] += timedelta(seconds=LOCKOUT_SECONDS + 1)
    assert accounts.authenticate("bob", GOOD).failed_logins == 0
    assert sum(a == "login.failed" for _, a, _ in _actions(app)) == MAX_FAILED_LOGINS + 1


def test_an_admin_unlocks_and_resets_and_unknown_users_fail_like_wrong_passwords(
    app: AppContext
) -> None:
    app.accounts.add("carol", "user", GOOD)
    for _ in range(MAX_FAILED_LOGINS):
        with pytest.raises(AccessDenied):
            app.accounts.authenticate("carol", "nope nope nope")
    app.accounts.unlock("carol", actor="admin")
    assert app.accounts.authenticate("carol", GOOD).username == "carol"
    fresh = app.accounts.reset_password("carol", actor="admin")
    assert app.accounts.authenticate("carol", fresh).must_change_password
    with pytest.raises(AccessDenied, match="wrong user name or password"):
        app.accounts.authenticate("nobody", GOOD)
    with pytest.raises(NotFound):
        app.accounts.reset_password("nobody")


def test_bad_accounts_are_refused_and_change_nothing(app: AppContext) -> None:
    app.accounts.add("dave", "user", GOOD)
    before = (_hashes(app), _actions(app))
    with pytest.raises(InvalidInput, match="role 'root'"):
        app.accounts.add("eve", "root", GOOD)
    with pytest.raises(InvalidInput, match="user name"):
        app.accounts.add("../eve", "user", GOOD)
    with pytest.raises(InvalidInput, match="not be the user name"):
        app.accounts.add("evelyn-smith", "user", "Evelyn-Smith")
    with pytest.raises(Conflict):
        app.accounts.add("DAVE", "user", GOOD)
    assert (_hashes(app), _actions(app)) == before


def test_the_last_admin_can_be_neither_removed_nor_demoted(app: AppContext) -> None:
    app.accounts.ensure_initial_admin()
    with pytest.raises(AccessDenied, match="last admin"):
        app.accounts.remove("admin")
    with pytest.raises(AccessDenied, match="last admin"):
        app.accounts.set_role("admin", "user")
    app.accounts.add("frank", "admin", GOOD)
    app.accounts.set_role("admin", "lab_admin", actor="frank")
    app.accounts.remove("admin", actor="frank")
    assert [a.username for a in app.accounts.accounts()] == ["frank"]
    assert ("frank", "account.remove", "admin") in _actions(app)
