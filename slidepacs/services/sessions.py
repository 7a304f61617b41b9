"""Browser sessions: who is logged in to the web front, until when, with which CSRF token.

Sessions live in memory (a restart logs everyone out). The cookie carries a random token; only
its SHA-256 digest is kept. A session ends after ``idle`` seconds without a request, after
``lifetime`` seconds at most, at log-out, and as soon as its account is removed, locked or
changed to another role (checked against the index at most every :data:`RECHECK_SECONDS`).
A session whose account must change its password may do nothing else.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timezone

from slidepacs.domain.accounts import Account, Role
from slidepacs.domain.tokens import new_token, token_digest
from slidepacs.errors import AccessDenied
from slidepacs.services.accounts import AccountService, AuditService

RECHECK_SECONDS = 30.0
MAX_SESSIONS = 10_000
Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class WebSession:
    """A logged-in browser: the account, its role, the CSRF token, and its times."""

    username: str
    role: Role
    csrf: str
    address: str
    must_change_password: bool
    started: float
    last_seen: float
    checked: float

    def has_role(self, *roles: Role) -> bool:
        """True when the session's role is one of ``roles``."""
        return self.role in roles


class SessionService:
    """Starts, finds and ends browser sessions."""

    def __init__(self, accounts: AccountService, audit: AuditService, idle_seconds: float,
                 lifetime_seconds: float, clock: Clock = time.monotonic) -> None:
        self._accounts = accounts
        self._audit = audit
        self._idle = idle_seconds
        self._lifetime = lifetime_seconds
        self._clock = clock
        self._sessions: dict[str, WebSession] = {}
        self._lock = threading.Lock()

    def log_in(self, username: str, password: str, address: str = "") -> tuple[str, WebSession]:
        """Check the password (AccessDenied when wrong or locked; audited) and start a
        session; returns the cookie token and the session."""
        account = self._accounts.authenticate(username, password, address)
        return self.start(account, address)

    def start(self, account: Account, address: str) -> tuple[str, WebSession]:
        """A new session for an authenticated account."""
        now = self._clock()
        token, digest = new_token()
        session = WebSession(account.username, account.role, secrets.token_urlsafe(24), address,
                             account.must_change_password, now, now, now)
        with self._lock:
            if len(self._sessions) >= MAX_SESSIONS:
                oldest = min(self._sessions, key=lambda key: self._sessions[key].last_seen)
                del self._sessions[oldest]
            self._sessions[digest] = session
        return token, session

    def find(self, token: str) -> WebSession | None:
        """The live session of a cookie token, or None (expired, ended or unknown)."""
        if not token:
            return None
        key = token_digest(token)
        now = self._clock()
        with self._lock:
            session = self._sessions.get(key)
            if session is None:
                return None
            if now - session.last_seen > self._idle or now - session.started > self._lifetime:
                del self._sessions[key]
                return None
        if now - session.checked > RECHECK_SECONDS:
            session = self._recheck(key, session, now)
            if session is None:
                return None
        session = replace(session, last_seen=now)
        with self._lock:
            if key in self._sessions:
                self._sessions[key] = session
        return session

    def log_out(self, token: str) -> WebSession | None:
        """End the session of ``token`` (audited); the session it was, or None."""
        with self._lock:
            session = self._sessions.pop(token_digest(token), None)
        if session is not None:
            self._audit.record(session.username, "logout", "", "", session.address)
        return session

    def change_password(self, token: str, old: str, new: str,
                        address: str = "") -> tuple[str, WebSession]:
        """Change the session's own password; the session is replaced by a new one (new
        token, password change no longer required). InvalidInput/AccessDenied change nothing."""
        session = self.find(token)
        if session is None:
            raise AccessDenied("log in first")
        self._accounts.change_password(session.username, old, new, address)
        self.end_all(session.username)
        account = self._accounts.get(session.username)
        assert account is not None
        return self.start(account, address)

    def end_all(self, username: str) -> int:
        """End every session of an account (removed, reset, role changed); how many ended."""
        name = username.lower()
        with self._lock:
            keys = [k for k, s in self._sessions.items() if s.username.lower() == name]
            for key in keys:
                del self._sessions[key]
        return len(keys)

    def active(self) -> list[WebSession]:
        """The sessions that are live now (for the admin pages)."""
        now = self._clock()
        with self._lock:
            return [s for s in self._sessions.values()
                    if now - s.last_seen <= self._idle and now - s.started <= self._lifetime]

    def _recheck(self, key: str, session: WebSession, now: float) -> WebSession | None:
        account = self._accounts.get(session.username)
        gone = (account is None or account.role is not session.role
                or account.locked_until is not None and account.locked(datetime.now(timezone.utc)))
        with self._lock:
            if gone:
                self._sessions.pop(key, None)
                return None
            session = replace(session, checked=now)
            self._sessions[key] = session
        return session

