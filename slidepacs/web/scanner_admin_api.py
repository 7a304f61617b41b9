"""The Scanners admin page's API under ``/viewer/api/admin/scanners`` (lab admins and
admins): the registry with each scanner's status, registration (the token is shown once),
new tokens, removal, and each scanner's "Images" settings. Every change is audited by the
scanner service with the web user and address. Bad images settings get 422 with the reason,
and nothing is saved.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Body, Depends
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from slidepacs.bootstrap import AppContext
from slidepacs.domain.scanners import IMAGE_FIELDS, IMAGE_HELP
from slidepacs.errors import InvalidInput
from slidepacs.services.scanners import NewScanner, ScannerStatus
from slidepacs.web.access import LAB_ROLES, AccessPolicy, Caller, SessionRequired


class ScannerForm(BaseModel):
    """A scanner to register; empty destination fields take the slide receiver's."""

    name: str = Field(max_length=200)
    ae_title: str = Field(max_length=64)
    model: str = Field("", max_length=200)
    serial: str = Field("", max_length=200)
    hostname: str = Field("", max_length=255)
    port: int | None = None
    title: str = Field("", max_length=64)


def scanner_admin_router(app: AppContext, policy: AccessPolicy) -> APIRouter:
    """Routes of the Scanners admin page (mounted under ``/viewer/api``)."""
    router = APIRouter(prefix="/admin/scanners", tags=["browser UI: scanners"])
    lab = SessionRequired(policy, *LAB_ROLES)

    @router.get("", summary="Every scanner with its status")
    def scanners(caller: Caller = Depends(lab)) -> dict[str, Any]:  # noqa: B008
        api = app.settings.scanner_api
        return {"scanners": [_listed(item) for item in app.scanners.scanners()],
                "heartbeat_timeout_seconds": api.heartbeat_timeout_seconds,
                "api": {"enabled": api.enabled, "host": api.host, "port": api.port,
                        "tls": api.tls}}

    @router.post("", status_code=201, summary="Register a scanner (its token is shown once)")
    def add(body: ScannerForm, caller: Caller = Depends(lab)) -> dict[str, Any]:  # noqa: B008
        scanner, token = app.scanners.register(
            NewScanner(body.name, body.ae_title, body.model, body.serial, body.hostname,
                       body.port, body.title), actor=caller.name, address=caller.address)
        return {**_listed(app.scanners.show(scanner.name)), "token": token}

    @router.delete("/{name}", summary="Unregister a scanner")
    def remove(name: str, caller: Caller = Depends(lab)) -> dict[str, str]:  # noqa: B008
        app.scanners.remove(name, actor=caller.name, address=caller.address)
        return {"name": name, "status": "removed"}

    @router.post("/{name}/token", summary="A new token (the old one stops working)")
    def token(name: str, caller: Caller = Depends(lab)) -> dict[str, str]:  # noqa: B008
        return {"name": name, "token": app.scanners.new_token(name, actor=caller.name,
                                                                address=caller.address)}

    @router.get("/{name}/images", summary="The scanner's Images settings, with help")
    def images(name: str, caller: Caller = Depends(lab)) -> dict[str, Any]:  # noqa: B008
        return _images(app, name)

    @router.put("/{name}/images", summary="Change the Images settings (422: nothing saved)")
    def set_images(name: str, body: dict[str, Any] = Body(...),  # noqa: B008
                   caller: Caller = Depends(lab)) -> Any:  # noqa: B008
        try:
            app.scanners.update_images(name, body, actor=caller.name, address=caller.address)
        except InvalidInput as exc:
            return JSONResponse({"detail": str(exc)}, status_code=422)
        return _images(app, name)

    return router


def _images(app: AppContext, name: str) -> dict[str, Any]:
    shown = app.scanners.show(name).scanner
    return {"scanner": shown.name, "ae_title": shown.ae_title,
            "version": app.scanners.config_version(shown.name),
            "images": app.scanners.images(shown.name).document(),
            "fields": [{"name": field, "help": IMAGE_HELP[field]} for field in IMAGE_FIELDS]}


def _listed(item: ScannerStatus) -> dict[str, Any]:
    scanner = item.scanner
    return {"name": scanner.name, "ae_title": scanner.ae_title, "model": scanner.model,
            "serial": scanner.serial, "software_version": scanner.software_version,
            "state": scanner.state, "status": item.status,
            "last_contact_at": _time(scanner.last_contact_at),
            "last_address": scanner.last_address,
            "clock_skew_seconds": scanner.clock_skew_seconds}


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
