"""The admin pages' API under ``/viewer/api/admin``: dashboard, DICOM provider and registered
AEs (with C-ECHO), accounts, storage, forwarding and the audit log (SPEC §7).

Lab admins and admins may use it all except accounts and the audit log (admins only). Every
change is written to the audit log with the web user and address; reads are not. Bad input
is refused with 400 naming the field, before anything changes.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from slidepacs.bootstrap import AppContext
from slidepacs.domain.accounts import Role, check_password, checked_role, checked_username
from slidepacs.domain.aes import RemoteAE, checked_ae_title, checked_host, checked_port
from slidepacs.domain.forwarding import RuleSpec
from slidepacs.errors import InvalidInput, NotFound
from slidepacs.services.forward_rules import build_rule
from slidepacs.services.overview import LocationUsage
from slidepacs.web.access import LAB_ROLES, AccessPolicy, Caller, SessionRequired

T = TypeVar("T")
VERIFY_COMMAND = "slidepacs storage verify"


class NewAE(BaseModel):
    """A remote AE to register."""

    name: str = Field(max_length=64)
    ae_title: str = Field(max_length=64)
    host: str = Field(max_length=255)
    port: int


class NewAccount(BaseModel):
    """An account to create; without a password a random one-time password is made."""

    username: str = Field(max_length=64)
    role: str = Field(max_length=16)
    password: str | None = Field(None, max_length=1024)


class RoleChange(BaseModel):
    """The new role of an account."""

    role: str = Field(max_length=16)


class NewRule(BaseModel):
    """A forwarding rule: every given criterion must match (patterns as in the CLI)."""

    name: str = Field(max_length=64)
    destination: str = Field(max_length=64)
    calling_ae_title: list[str] = Field(default_factory=list, max_length=20)
    modality: list[str] = Field(default_factory=list, max_length=20)
    sop_class_uid: list[str] = Field(default_factory=list, max_length=20)
    tags: dict[str, list[str]] = Field(default_factory=dict, max_length=20)


def checked(field: str, check: Callable[..., T], *args: Any) -> T:
    """``check(*args)``, with an InvalidInput it raises naming ``field``."""
    try:
        return check(*args)
    except InvalidInput as exc:
        text = str(exc)
        raise InvalidInput(text if text.startswith(f"{field}:") else f"{field}: {text}") from None


def admin_router(app: AppContext, policy: AccessPolicy) -> APIRouter:
    """Routes of the admin pages (mounted under ``/viewer/api``)."""
    router = APIRouter(prefix="/admin", tags=["browser UI: administration"])
    lab = SessionRequired(policy, *LAB_ROLES)
    admin = SessionRequired(policy, Role.ADMIN)

    def audit(caller: Caller, action: str, target: str, detail: str = "") -> None:
        assert caller.session is not None
        app.audit.record(caller.session.username, action, target, detail, caller.address)

    # -- dashboard and storage ---------------------------------------------------------------
    @router.get("/dashboard", summary="Counts, bytes per location, last hour, recent errors")
    def dashboard(caller: Caller = Depends(lab)) -> dict[str, Any]:  # noqa: B008
        board = app.overview.dashboard()
        counts = board.counts
        return {
            "counts": {"patients": counts.patients, "studies": counts.studies,
                       "series": counts.series, "instances": counts.instances,
                       "bytes": counts.bytes},
            "received_last_hour": board.received_last_hour,
            "locations": [_location(item) for item in board.locations],
            "errors": [{"at": _time(error.at), "source": error.source,
                        "summary": error.summary} for error in board.errors],
        }

    @router.get("/storage", summary="Storage locations with usage and instance copies")
    def storage(caller: Caller = Depends(lab)) -> dict[str, Any]:  # noqa: B008
        settings = app.settings.storage
        return {
            "locations": [_location(item) for item in app.overview.locations()],
            "duplicate_policy": settings.duplicate_policy.value,
            "log_path": str(app.settings.log_path),
            "verify": {"available": False, "command": VERIFY_COMMAND,
                       "reason": "verifying reads every stored file; run it on the server"},
        }

    # -- DICOM provider and users ------------------------------------------------------------
    @router.get("/dicom", summary="The local AE (provider) and the registered remote AEs")
    def dicom(caller: Caller = Depends(lab)) -> dict[str, Any]:  # noqa: B008
        settings = app.settings
        local, receiver = settings.dicom, settings.slide_receiver
        return {
            "provider": {
                "ae_title": local.ae_title, "host": local.host, "port": local.port,
                "tls": local.tls, "require_client_certificate": local.require_client_certificate,
                "accept_unregistered": app.registry.accept_unregistered,
                "slide_receiver": {
                    "enabled": receiver.enabled, "ae_title": receiver.ae_title,
                    "host": receiver.host, "port": receiver.port, "tls": receiver.tls,
                    "require_client_certificate": receiver.require_client_certificate},
            },
            "aes": [_ae(ae) for ae in app.registry.list()],
        }

    @router.post("/aes", status_code=201, summary="Register a remote AE")
    def add_ae(body: NewAE, caller: Caller = Depends(lab)) -> dict[str, Any]:  # noqa: B008
        if not body.name.strip():
            raise InvalidInput("name: must be 1-64 characters")
        checked("ae_title", checked_ae_title, body.ae_title)
        checked("host", checked_host, body.host)
        checked("port", checked_port, body.port)
        ae = app.registry.add(body.name.strip(), body.ae_title, body.host, body.port)
        audit(caller, "ae.add", ae.name, f"{ae.ae_title} at {ae.host}:{ae.port}")
        return _ae(ae)

    @router.delete("/aes/{name}", summary="Unregister a remote AE (by name or AE title)")
    def remove_ae(name: str, caller: Caller = Depends(lab)) -> dict[str, str]:  # noqa: B008
        app.registry.remove(name)
        audit(caller, "ae.remove", name)
        return {"status": "removed", "name": name}

    @router.post("/aes/{name}/echo", summary="Send a C-ECHO from the local AE title")
    def echo_ae(name: str, caller: Caller = Depends(lab)) -> dict[str, Any]:  # noqa: B008
        remote, outcome = app.echo.echo(name)
        return {"ae": _ae(remote), "ok": outcome.ok, "status": outcome.status,
                "milliseconds": round(outcome.milliseconds, 1),
                "error": "" if outcome.ok else outcome.detail, "detail": outcome.detail}

    # -- accounts ----------------------------------------------------------------------------
    @router.get("/accounts", summary="Every account and its live sessions")
    def accounts(caller: Caller = Depends(admin)) -> dict[str, Any]:  # noqa: B008
        sessions: dict[str, int] = {}
        for session in app.sessions.active():
            key = session.username.lower()
            sessions[key] = sessions.get(key, 0) + 1
        return {"accounts": [
            {"username": a.username, "role": a.role.value,
             "must_change_password": a.must_change_password, "failed_logins": a.failed_logins,
             "locked_until": _time(a.locked_until), "created_at": _time(a.created_at),
             "last_login_at": _time(a.last_login_at),
             "sessions": sessions.get(a.username.lower(), 0)}
            for a in app.accounts.accounts()], "roles": [role.value for role in Role]}

    @router.post("/accounts", status_code=201, summary="Create an account")
    def add_account(body: NewAccount,
                    caller: Caller = Depends(admin)) -> dict[str, Any]:  # noqa: B008
        name = checked("username", checked_username, body.username)
        role = checked("role", checked_role, body.role)
        if body.password is not None:
            checked("password", check_password, body.password, name)
        password = app.accounts.add(name, role.value, body.password, actor=caller.name,
                                    address=caller.address)
        return {"username": name, "role": role.value, "password": password}

    @router.put("/accounts/{username}/role", summary="Give an account another role")
    def set_role(username: str, body: RoleChange,
                 caller: Caller = Depends(admin)) -> dict[str, Any]:  # noqa: B008
        role = checked("role", checked_role, body.role)
        app.accounts.set_role(username, role.value, actor=caller.name, address=caller.address)
        return {"username": username, "role": role.value,
                "sessions_ended": app.sessions.end_all(username)}

    @router.post("/accounts/{username}/password",
                 summary="Reset a password to a new one-time password")
    def reset_password(username: str,
                       caller: Caller = Depends(admin)) -> dict[str, Any]:  # noqa: B008
        password = app.accounts.reset_password(username, actor=caller.name,
                                               address=caller.address)
        return {"username": username, "password": password,
                "sessions_ended": app.sessions.end_all(username)}

    @router.post("/accounts/{username}/unlock", summary="End a lockout")
    def unlock(username: str, caller: Caller = Depends(admin)) -> dict[str, str]:  # noqa: B008
        app.accounts.unlock(username, actor=caller.name, address=caller.address)
        return {"username": username, "status": "unlocked"}

    @router.delete("/accounts/{username}", summary="Remove an account")
    def remove_account(username: str,
                       caller: Caller = Depends(admin)) -> dict[str, Any]:  # noqa: B008
        app.accounts.remove(username, actor=caller.name, address=caller.address)
        return {"username": username, "status": "removed",
                "sessions_ended": app.sessions.end_all(username)}

    # -- forwarding --------------------------------------------------------------------------
    @router.get("/forwarding", summary="Forwarding rules and the queue per destination")
    def forwarding(caller: Caller = Depends(lab)) -> dict[str, Any]:  # noqa: B008
        rules = app.forwarding.rules
        unregistered = {rule.name for rule in rules.unregistered_destinations()}
        return {
            "rules": [{"name": r.name, "destination": r.destination,
                       "from_config": r.from_config, "criteria": r.describe(),
                       "registered": r.name not in unregistered} for r in rules.all()],
            "queue": [{"destination": s.destination, "pending": s.pending,
                       "sending": s.sending, "done": s.done, "failed": s.failed,
                       "next_attempt_at": _time(s.next_attempt_at), "last_error": s.last_error,
                       "last_error_at": _time(s.last_error_at)}
                      for s in app.forwarding.status()],
        }

    @router.post("/forwarding/rules", status_code=201, summary="Add a forwarding rule")
    def add_rule(body: NewRule, caller: Caller = Depends(lab)) -> dict[str, Any]:  # noqa: B008
        if not body.name.strip():
            raise InvalidInput("name: a rule needs a name")
        if not body.destination.strip():
            raise InvalidInput("destination: a rule needs a registered AE as destination")
        criteria: dict[str, Any] = {
            "calling_ae_title": tuple(body.calling_ae_title), "modality": tuple(body.modality),
            "sop_class_uid": tuple(body.sop_class_uid),
            "tags": tuple((keyword, tuple(values)) for keyword, values in body.tags.items())}
        for field, values in criteria.items():  # each criterion alone: errors name the field
            checked(field, build_rule, RuleSpec("check", "check", **{field: values}))
        spec = RuleSpec(body.name.strip(), body.destination.strip(),
                        tuple(body.calling_ae_title), tuple(body.modality),
                        tuple(body.sop_class_uid),
                        tuple((keyword, tuple(values)) for keyword, values in body.tags.items()))
        try:
            added = app.forwarding.rules.add(spec)
        except NotFound as exc:
            raise InvalidInput(f"destination: {exc}") from None
        except InvalidInput as exc:
            text = str(exc)
            raise InvalidInput(text if ":" in text.split(" ")[0] else f"rule: {text}") from None
        audit(caller, "forward.rule.add", added.name,
              f"{added.describe()} -> {added.destination}")
        return {"name": added.name, "destination": added.destination,
                "criteria": added.describe()}

    @router.delete("/forwarding/rules/{name}", summary="Remove a forwarding rule")
    def remove_rule(name: str, caller: Caller = Depends(lab)) -> dict[str, str]:  # noqa: B008
        app.forwarding.rules.remove(name)
        audit(caller, "forward.rule.remove", name)
        return {"name": name, "status": "removed"}

    @router.post("/forwarding/queue/{destination}/retry",
                 summary="Failed jobs of a destination start over; waiting ones are due now")
    def retry(destination: str,
              caller: Caller = Depends(lab)) -> dict[str, Any]:  # noqa: B008
        if not any(s.destination == destination for s in app.forwarding.status()):
            raise NotFound(f"no forwarding jobs for destination {destination!r}")
        result = app.forwarding.retry(destination)
        audit(caller, "forward.retry", destination,
              f"{result.failed_reset} failed reset, {result.pending_advanced} due now")
        return {"destination": destination, "failed_reset": result.failed_reset,
                "pending_advanced": result.pending_advanced}

    # -- audit log ---------------------------------------------------------------------------
    @router.get("/audit", summary="The audit log, newest first, by user and action")
    def audit_log(
        user: str = Query("", max_length=64), action: str = Query("", max_length=64),
        page: int = Query(1, ge=1, le=100_000), size: int = Query(50, ge=1, le=500),
        caller: Caller = Depends(admin),  # noqa: B008
    ) -> dict[str, Any]:
        entries = app.audit.recent(size + 1, user.strip() or None, action.strip() or None,
                                   offset=(page - 1) * size)
        return {"page": page, "size": size, "more": len(entries) > size,
                "entries": [{"at": _time(e.at), "user": e.actor, "action": e.action,
                             "target": e.target, "detail": e.detail, "address": e.address}
                            for e in entries[:size]]}

    return router


def _ae(ae: RemoteAE) -> dict[str, Any]:
    return {"name": ae.name, "ae_title": ae.ae_title, "host": ae.host, "port": ae.port,
            "auto_registered": ae.auto_registered}


def _location(item: LocationUsage) -> dict[str, Any]:
    return {"role": item.role, "path": str(item.path), "used_bytes": item.used_bytes,
            "disk_free_bytes": item.disk_free_bytes, "disk_total_bytes": item.disk_total_bytes,
            "instances": item.instances}


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
