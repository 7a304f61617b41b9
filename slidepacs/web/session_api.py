"""The browser UI's log-in API under ``/viewer/api``: log-in (password, URL or one-time code),
log-out, password change, who am I, and one-time RSA keys (SPEC §7)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from pydantic import BaseModel, Field

from slidepacs import __version__
from slidepacs.bootstrap import AppContext
from slidepacs.errors import AccessDenied
from slidepacs.services.sessions import WebSession
from slidepacs.web.access import (
    SESSION_COOKIE,
    AccessPolicy,
    Caller,
    SessionRequired,
    client_address,
)
from slidepacs.web.rate_limit import RateLimiter

API_PREFIX = "/viewer/api"
ONE_TIME_KEYS_PER_MINUTE = 30  # per client address: each costs an RSA key generation


class LogIn(BaseModel):
    """A log-in: user name and password, or an OTP ``code``; ``via`` says where the
    credentials came from (``form`` or ``url``; URL log-ins must be enabled)."""

    username: str = Field("", max_length=64)
    password: str = Field("", max_length=1024)
    code: str = Field("", max_length=2048)
    via: str = Field("form", pattern="^(form|url)$")


class PasswordChange(BaseModel):
    """The old password and the new one."""

    old: str = Field(max_length=1024)
    new: str = Field(max_length=1024)


def session_router(app: AppContext, policy: AccessPolicy) -> APIRouter:
    """Routes of log-in, log-out, password change, ``me`` and one-time keys."""
    router = APIRouter(tags=["browser UI: sessions"])
    http = app.settings.http
    secure_cookie = http.tls or http.public_url.startswith("https://")
    any_session = SessionRequired(policy, allow_password_change=True)
    key_budget = RateLimiter(ONE_TIME_KEYS_PER_MINUTE, 60.0)

    def set_cookie(response: Response, token: str) -> None:
        response.set_cookie(SESSION_COOKIE, token, httponly=True, secure=secure_cookie,
                            samesite="strict", path="/",
                            max_age=http.session_hours * 3600)

    @router.get("/config", summary="What the log-in page needs to know (no log-in needed)")
    def public_config() -> dict[str, Any]:
        return {"version": __version__, "url_login": http.url_login}

    @router.post("/login", summary="Log in with user name and password, or an OTP code")
    def log_in(body: LogIn, request: Request, response: Response) -> dict[str, Any]:
        address = client_address(request)
        if body.via == "url" and not body.code and not http.url_login:
            raise HTTPException(403, "log-in with id and password in the URL is off "
                                     "(http.url_login)")
        try:
            if body.code:
                username, password = app.one_time_keys.redeem(body.code)
            else:
                username, password = body.username, body.password
            if not username or not password:
                raise AccessDenied("user name and password are required")
            token, session = app.sessions.log_in(username, password, address)
        except AccessDenied as exc:
            raise HTTPException(401, str(exc)) from None
        set_cookie(response, token)
        return _me(session)

    @router.post("/logout", summary="End this browser's session")
    def log_out(request: Request, response: Response,
                caller: Caller = Depends(any_session)) -> dict[str, str]:  # noqa: B008
        app.sessions.log_out(request.cookies.get(SESSION_COOKIE, ""))
        response.delete_cookie(SESSION_COOKIE, path="/")
        return {"status": "logged out"}

    @router.post("/password", summary="Change your own password")
    def change_password(body: PasswordChange, request: Request, response: Response,
                        caller: Caller = Depends(any_session)) -> dict[str, Any]:  # noqa: B008
        try:
            token, session = app.sessions.change_password(
                request.cookies.get(SESSION_COOKIE, ""), body.old, body.new, caller.address)
        except AccessDenied as exc:
            raise HTTPException(403, str(exc)) from None
        set_cookie(response, token)
        return _me(session)

    @router.get("/me", summary="The logged-in account and its CSRF token")
    def me(caller: Caller = Depends(any_session)) -> dict[str, Any]:  # noqa: B008
        assert caller.session is not None
        return _me(caller.session)

    @router.get("/otp/", summary="A single-use RSA public key for an encrypted log-in code")
    def one_time_key(request: Request) -> dict[str, Any]:
        wait = key_budget.allow(client_address(request))
        if wait:
            raise HTTPException(429, "too many one-time keys asked for from this address",
                                headers={"Retry-After": str(max(1, round(wait)))})
        key = app.one_time_keys.issue()
        return {"key_id": key.key_id, "public_key": key.public_pem, "algorithm": "RSA-OAEP",
                "hash": "SHA-256", "expires_in": key.expires_in,
                "plaintext": "id=<user>&password=<password>", "encoding": "base64url"}

    return router


def _me(session: WebSession) -> dict[str, Any]:
    return {"username": session.username, "role": session.role.value,
            "must_change_password": session.must_change_password, "csrf": session.csrf}
