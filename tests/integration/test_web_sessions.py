"""Session lifetimes against the real index (SQLite and PostgreSQL), with a settable clock."""

from __future__ import annotations

import pytest

from slidepacs.bootstrap import AppContext
from slidepacs.errors import AccessDenied
from slidepacs.services.sessions import RECHECK_SECONDS, SessionService

PASSWORD = "a long enough password"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sessions(app: AppContext, clock: Clock) -> SessionService:
    app.accounts.add("reader", "user", PASSWORD)
    return SessionService(app.accounts, app.audit, idle_seconds=600, lifetime_seconds=3600,
                          clock=clock)


def test_a_session_ends_after_its_idle_time_without_requests(sessions: SessionService,
                                                             clock: Clock) -> None:
    token, _ = sessions.log_in("reader", PASSWORD, "10.0.0.9")
    clock.now += 599
    assert sessions.find(token) is not None  # a request renews the idle time
    clock.now += 599
    assert sessions.find(token) is not None
    clock.now += 601
    assert sessions.find(token) is None
    assert sessions.find(token) is None


def test_a_busy_session_still_ends_at_its_lifetime(sessions: SessionService,
                                                   clock: Clock) -> None:
    token, _ = sessions.log_in("reader", PASSWORD)
    for _ in range(7):
        clock.now += 500
        assert sessions.find(token) is not None
    clock.now += 500  # 4000 s after log-in
    assert sessions.find(token) is None


def test_removing_or_demoting_an_account_ends_its_sessions_at_the_next_check(
        app: AppContext, sessions: SessionService, clock: Clock) -> None:
    app.accounts.add("boss", "lab_admin", PASSWORD)
    boss, _ = sessions.log_in("boss", PASSWORD)
    reader, _ = sessions.log_in("reader", PASSWORD)
    app.accounts.set_role("boss", "user")  # as from the command line: no session call
    app.accounts.remove("reader")
    assert sessions.find(boss) is not None  # within the recheck interval
    clock.now += RECHECK_SECONDS + 1
    assert sessions.find(boss) is None
    assert sessions.find(reader) is None


def test_log_out_and_end_all_end_sessions_and_log_out_is_audited(
        app: AppContext, sessions: SessionService) -> None:
    first, _ = sessions.log_in("reader", PASSWORD, "10.0.0.1")
    second, _ = sessions.log_in("Reader", PASSWORD, "10.0.0.2")
    assert len(sessions.active()) == 2
    sessions.log_out(first)
    assert sessions.find(first) is None and sessions.find(second) is not None
    entry = app.audit.recent(actor="reader", action="logout")[0]
    assert entry.address == "10.0.0.1"
    assert sessions.end_all("READER") == 1
    assert sessions.find(second) is None


def test_a_wrong_old_password_changes_nothing_and_keeps_the_session(
        app: AppContext, sessions: SessionService) -> None:
    token, _ = sessions.log_in("reader", PASSWORD)
    with pytest.raises(AccessDenied):
        sessions.change_password(token, "not the old one", "another long password")
    assert sessions.find(token) is not None
    assert sessions.log_in("reader", PASSWORD)[1].username == "reader"
