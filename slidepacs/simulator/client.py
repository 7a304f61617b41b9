"""The scanner API client (docs/scanner-api.md): configuration pull with ETag, heartbeats,
image metadata; HTTPS with the lab CA and the scanner's bearer token."""

from __future__ import annotations

import logging
import ssl
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from slidepacs.errors import AccessDenied, InvalidInput, SlidepacsError
from slidepacs.simulator.backoff import Backoff
from slidepacs.simulator.event_sender import now_iso

log = logging.getLogger(__name__)
DEFAULT_API_URL = "https://127.0.0.1:44386/api/v1"


class ApiUnavailable(SlidepacsError):
    """The scanner API could not be reached (after the retries)."""


@dataclass(frozen=True, slots=True)
class ScannerConfig:
    """What the scanner pulled from ``GET /config`` (the fields the simulator uses)."""

    scanner: str
    version: int
    host: str
    port: int
    called_ae: str
    calling_ae: str
    sparse: bool
    output_format: str
    events_host: str
    events_port: int
    events_tls_port: int
    heartbeat_seconds: float

    @staticmethod
    def from_json(body: dict[str, Any]) -> ScannerConfig:
        """Parse the API's answer; InvalidInput naming a missing or malformed field."""
        try:
            images, events = body["images"], body.get("events") or {}
            return ScannerConfig(
                scanner=str(body["scanner"]), version=int(body["version"]),
                host=str(images["hostname"]), port=int(images["port"]),
                called_ae=str(images["title"]), calling_ae=str(images["calling_title"]),
                sparse=str(images.get("dimension_organization", "FULL")).upper() == "SPARSE",
                output_format=str(images.get("image_output_format", "DICOM")).upper(),
                events_host=str(events.get("hostname") or images["hostname"]),
                events_port=int(events.get("port") or 0),
                events_tls_port=int(events.get("tls_port") or 0),
                heartbeat_seconds=float(body.get("heartbeat_seconds") or 15))
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidInput(f"the scanner API sent a configuration without a usable "
                               f"{exc}") from None


class ScannerApi:
    """Requests to the scanner API, retried with backoff on connection errors."""

    def __init__(self, base_url: str, token: str, ca: Path | None, attempts: int = 5,
                 backoff: Backoff = Backoff(0.5, 10.0), timeout: float = 30.0) -> None:
        if not token:
            raise InvalidInput("no scanner token: give --token or set $SLIDEPACS_SCANNER_TOKEN")
        if ca is not None and not ca.is_file():
            raise InvalidInput(f"{ca}: no such CA certificate file (the lab CA is "
                               f"<data_path>/tls/ca.pem)")
        verify = ssl.create_default_context(cafile=str(ca)) if ca is not None else True
        self._http = httpx.Client(base_url=base_url.rstrip("/"), verify=verify, timeout=timeout,
                                  headers={"Authorization": f"Bearer {token}"})
        self._attempts = attempts
        self._backoff = backoff
        self._etag: str | None = None
        self.config: ScannerConfig | None = None
        self.stop = threading.Event()

    def pull_config(self) -> tuple[ScannerConfig, bool]:
        """The configuration and whether it changed since the last pull (304 → unchanged)."""
        headers = {"If-None-Match": self._etag} if self._etag and self.config else {}
        response = self._request("GET", "/config", headers=headers)
        if response.status_code == 304 and self.config is not None:
            return self.config, False
        self.config = ScannerConfig.from_json(response.json())
        self._etag = response.headers.get("ETag")
        return self.config, True

    def heartbeat(self, state: str, model: str, serial: str, software: str) -> dict[str, Any]:
        """Post a heartbeat; the answer has ``config_version`` and ``clock_skew_seconds``."""
        body = {"time": now_iso(), "state": state[:32], "model": model, "serial": serial,
                "software_version": software}
        answer: dict[str, Any] = self._request("POST", "/heartbeat", json=body).json()
        return answer

    def post_image(self, metadata: dict[str, Any]) -> dict[str, Any]:
        """Post one slide's metadata (safe to repeat: the same image ID replaces it)."""
        answer: dict[str, Any] = self._request("POST", "/images", json=metadata).json()
        return answer

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        for attempt in range(1, self._attempts + 1):
            try:
                response = self._http.request(method, path, **kwargs)
            except httpx.TransportError as exc:
                reason = f"cannot reach the scanner API at {self._http.base_url} ({exc})"
                log.warning("%s (attempt %d)", reason, attempt)
                if attempt == self._attempts or not self._backoff.wait(attempt, self.stop):
                    raise ApiUnavailable(reason) from None
                continue
            if response.status_code >= 500 and attempt < self._attempts:
                if self._backoff.wait(attempt, self.stop):
                    continue
            return _checked(response)
        raise ApiUnavailable(f"no answer from the scanner API at {self._http.base_url}")


def _checked(response: httpx.Response) -> httpx.Response:
    """The response, or the error it means (401 → wrong token, 4xx → the server's detail)."""
    code = response.status_code
    if code < 400 or code == 304:
        return response
    detail = _detail(response)
    if code == 401:
        raise AccessDenied(f"the scanner API refused the token (wrong or replaced token; "
                           f"`slidepacs scanner token NAME` makes a new one): {detail}")
    if code == 403:
        raise AccessDenied(f"the scanner API refused the request: {detail}")
    if code >= 500:
        raise ApiUnavailable(f"the scanner API failed ({code}): {detail}")
    raise InvalidInput(f"the scanner API refused {response.request.method} "
                       f"{response.request.url.path} ({code}): {detail}")


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    return str(body.get("detail", body)) if isinstance(body, dict) else str(body)[:200]
