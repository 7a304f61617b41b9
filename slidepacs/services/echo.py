"""C-ECHO to a registered AE: the one way the CLI and the web front check a DICOM peer.

The service does not speak DICOM itself: the composition root gives it the function that
does (``slidepacs.dimse.scu.echo``), so that no front imports another.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from slidepacs.domain.aes import RemoteAE
from slidepacs.services.ae_registry import AERegistry

DEFAULT_TIMEOUT = 10.0


@dataclass(frozen=True, slots=True)
class EchoOutcome:
    """The outcome of a C-ECHO: success, DIMSE status, round trip and a readable detail."""

    ok: bool
    status: int | None
    milliseconds: float
    detail: str


Sender = Callable[[RemoteAE, str, float], EchoOutcome]


class EchoService:
    """Sends a C-ECHO from the local AE title to a registered AE."""

    def __init__(self, registry: AERegistry, local_ae_title: str, sender: Sender,
                 timeout: float = DEFAULT_TIMEOUT) -> None:
        self._registry = registry
        self._local = local_ae_title
        self._send = sender
        self._timeout = timeout

    def echo(self, name_or_title: str, timeout: float | None = None) -> tuple[RemoteAE,
                                                                              EchoOutcome]:
        """The AE and the outcome of echoing it; NotFound if it is not registered."""
        remote = self._registry.get(name_or_title)
        return remote, self._send(remote, self._local,
                                  self._timeout if timeout is None else timeout)
