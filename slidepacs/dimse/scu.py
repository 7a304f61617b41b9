"""Outgoing DIMSE requests (the SCU side): echo a registered peer."""

from __future__ import annotations

import time

from pynetdicom import AE
from pynetdicom.sop_class import Verification

from slidepacs.domain.aes import RemoteAE
from slidepacs.services.echo import EchoOutcome as EchoResult


def echo(remote: RemoteAE, local_ae_title: str, timeout: float = 10.0) -> EchoResult:
    """Associate with ``remote`` and send a C-ECHO."""
    ae = AE(local_ae_title)
    ae.add_requested_context(Verification)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = timeout
    started = time.perf_counter()
    association = ae.associate(remote.host, remote.port, ae_title=remote.ae_title)
    if not association.is_established:
        elapsed = (time.perf_counter() - started) * 1000
        reason = "association rejected" if association.is_rejected else "no association"
        return EchoResult(False, None, elapsed, f"{reason} ({remote.host}:{remote.port})")
    try:
        status = association.send_c_echo()
    finally:
        association.release()
    elapsed = (time.perf_counter() - started) * 1000
    code = int(status.Status) if "Status" in status else None
    if code is None:
        return EchoResult(False, None, elapsed, "no response")
    return EchoResult(code == 0, code, elapsed, "success" if code == 0 else f"status 0x{code:04X}")
