"""TLS for DICOM listeners (PS3.15 Annex B secure transport connection profiles)."""

from __future__ import annotations

import ssl
from pathlib import Path

from slidepacs.errors import ConfigError


def server_context(
    setting: str, certificate: Path, key: Path, ca: Path, require_client_certificate: bool
) -> ssl.SSLContext:
    """A TLS 1.2+ server context; ConfigError naming ``setting`` if a file is unusable."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(certificate, key)
        if require_client_certificate:
            context.verify_mode = ssl.CERT_REQUIRED
            context.load_verify_locations(cafile=str(ca))
    except FileNotFoundError as exc:
        raise ConfigError(setting, f"{exc.filename} does not exist (run `slidepacs tls init`)") from None
    except (ssl.SSLError, OSError) as exc:
        raise ConfigError(setting, f"cannot load TLS files ({exc})") from None
    return context


def client_context(ca: Path, certificate: Path | None = None, key: Path | None = None) -> ssl.SSLContext:
    """A TLS client context trusting ``ca`` (and presenting a client certificate if given)."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(ca))
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if certificate is not None and key is not None:
        context.load_cert_chain(certificate, key)
    return context
