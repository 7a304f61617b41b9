"""The one access check every HTTP route depends on.

A caller is known by a browser session cookie (an account logged in through the UI) or by a
bearer token whose SHA-256 digest is in the configuration (``slidepacs http token`` makes one).
DICOMweb is open to anyone with ``http.access = "open"`` (a closed lab network), else it needs
one of the two. The browser UI's API always needs a session, and its admin parts a role.
Requests that change something with a session cookie must carry the session's CSRF token in
the ``X-CSRF-Token`` header.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from fastapi import HTTPException, Request

from slidepacs.config import HttpAccess, HttpSettings
from slidepacs.domain.accounts import Role
from slidepacs.domain.tokens import token_digest
from slidepacs.services.sessions import SessionService, WebSession

SESSION_COOKIE = "slidepacs_session"
CSRF_HEADER = "x-csrf-token"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
LAB_ROLES = (Role.ADMIN, Role.LAB_ADMIN)


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is calling: the client address and, when known, the token or the session."""

    address: str
    token_digest: str = ""
    session: WebSession | None = None

    @property
    def name(self) -> str:
        """For the audit log: the user name, ``token:<digest prefix>`` or ``anonymous``."""
        if self.session is not None:
            return self.session.username
        return f"token:{self.token_digest[:12]}" if self.token_digest else "anonymous"


def client_address(request: Request) -> str:
    """The peer address of a request ('' when unknown)."""
    return request.client.host if request.client else ""


class AccessPolicy:
    """Decides whether a DICOMweb request may proceed (a FastAPI dependency)."""

    def __init__(self, settings: HttpSettings, sessions: SessionService) -> None:
        self._open = settings.access is HttpAccess.OPEN
        self._digests = settings.token_sha256
        self._sessions = sessions

    async def __call__(self, request: Request) -> Caller:
        """The caller, or HTTPException 401/403 (async: it never blocks, and an async
        dependency runs on the event loop instead of costing a hand-off to a worker thread)."""
        return self.check(request)

    def check(self, request: Request) -> Caller:
        """The caller of ``request``, or HTTPException 401 (unknown) / 403 (CSRF, password)."""
        address = client_address(request)
        session = self.session_of(request)
        if session is not None:
            return Caller(address, session=session)
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            digest = token_digest(token.strip())
            if any(hmac.compare_digest(digest, known) for known in self._digests):
                return Caller(address, digest)
        if self._open:
            return Caller(address)
        raise HTTPException(401, "log in, or send a valid bearer token",
                            headers={"WWW-Authenticate": 'Bearer realm="slidepacs"'})

    def session_of(self, request: Request, allow_password_change: bool = False
                   ) -> WebSession | None:
        """The request's live session (None without one); 403 when an unsafe request lacks
        its CSRF token, or when the account must change its password first."""
        token = request.cookies.get(SESSION_COOKIE)
        if not token:
            return None
        session = self._sessions.find(token)
        if session is None:
            return None
        if request.method not in _SAFE_METHODS:
            sent = request.headers.get(CSRF_HEADER, "")
            if not hmac.compare_digest(sent.encode(), session.csrf.encode()):
                raise HTTPException(403, f"missing or wrong {CSRF_HEADER} header")
        if session.must_change_password and not allow_password_change:
            raise HTTPException(403, "change your password first")
        return session


class SessionRequired:
    """A dependency for the browser UI's API: the caller's session, with one of ``roles``
    when given (401 without a session, 403 without the role)."""

    def __init__(self, policy: AccessPolicy, *roles: Role,
                 allow_password_change: bool = False) -> None:
        self._policy = policy
        self._roles = roles
        self._allow_password_change = allow_password_change

    async def __call__(self, request: Request) -> Caller:
        """The logged-in caller."""
        session = self._policy.session_of(request, self._allow_password_change)
        if session is None:
            raise HTTPException(401, "log in first")
        if self._roles and not session.has_role(*self._roles):
            raise HTTPException(403, "your role may not do this: "
                                f"{' or '.join(r.value for r in self._roles)} only")
        return Caller(client_address(request), session=session)
