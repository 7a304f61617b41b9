"""DICOM listeners: the general AE and the slide receiver, sharing one set of handlers."""

from __future__ import annotations

import logging
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydicom.uid import ExplicitVRLittleEndian
from pynetdicom import AE, ALL_TRANSFER_SYNTAXES, AllStoragePresentationContexts, _config
from pynetdicom.sop_class import (
    PatientRootQueryRetrieveInformationModelFind,
    PatientRootQueryRetrieveInformationModelGet,
    PatientRootQueryRetrieveInformationModelMove,
    StudyRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelGet,
    StudyRootQueryRetrieveInformationModelMove,
    Verification,
)

from slidepacs.dimse.handlers import DimseHandlers
from slidepacs.dimse.store_receiver import StoreHandler
from slidepacs.dimse.transport import AssociationServer
from slidepacs.errors import ConfigError
from slidepacs.services.ae_registry import AERegistry

log = logging.getLogger(__name__)
MAX_PDU = 4 * 1024 * 1024
STOP_GRACE_SECONDS = 5.0
# Every syntax pynetdicom knows, explicit VR little endian first: the acceptor picks the first
# of these that the peer proposes, and explicit VR is what most objects are stored in.
TRANSFER_SYNTAXES = [ExplicitVRLittleEndian] + [
    syntax for syntax in ALL_TRANSFER_SYNTAXES if syntax != ExplicitVRLittleEndian
]
QUERY_RETRIEVE = [
    PatientRootQueryRetrieveInformationModelFind, PatientRootQueryRetrieveInformationModelGet,
    PatientRootQueryRetrieveInformationModelMove, StudyRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelGet, StudyRootQueryRetrieveInformationModelMove,
]

# pynetdicom's only switch for receiving to disk is module-level: received datasets go to a
# temporary file, never held in memory (sending is set up in dimse.streaming).
_config.STORE_RECV_CHUNKED_DATASET = True
# pynetdicom logs every DIMSE message, and formats every identifier for a debug log even when
# debug is off: that costs more CPU than a C-FIND match itself. slidepacs logs associations
# (pynetdicom.acse) and failures; per-message lines only at the pynetdicom logger's DEBUG.
_config.LOG_HANDLER_LEVEL = "none"
_config.LOG_REQUEST_IDENTIFIERS = False
_config.LOG_RESPONSE_IDENTIFIERS = False
logging.getLogger("pynetdicom.service_class").setLevel(logging.WARNING)


@dataclass(frozen=True)
class Listener:
    """One DICOM listener to start."""

    name: str
    ae_title: str
    host: str
    port: int
    storage_only: bool = False
    tls: ssl.SSLContext | None = None
    setting: str = "dicom"
    # more callers to admit besides the AE registry's (the slide receiver: scanners)
    also_admits: Callable[[str, str], bool] | None = None


class RegistryAE(AE):
    """An AE that admits an association only from a registered title at its registered address
    (rejected with "calling AE title not recognised" otherwise), and receives C-STORE data
    sets into files from ``incoming_path`` (see dimse.incoming), plain C-STOREs through its
    own receive path to ``store_handler`` (see dimse.store_receiver)."""

    def __init__(self, ae_title: str, registry: AERegistry,
                 incoming_path: Callable[[], Path] | None = None,
                 store_handler: StoreHandler | None = None,
                 also_admits: Callable[[str, str], bool] | None = None) -> None:
        super().__init__(ae_title)
        self._registry = registry
        self._also_admits = also_admits
        self.incoming_path = incoming_path
        self.store_handler = store_handler

    @property  # type: ignore[override]
    def require_calling_aet(self) -> list[str]:
        association = threading.current_thread()
        requestor = getattr(association, "requestor", None)
        if requestor is None or self._registry.accept_unregistered:
            return []
        title = str(requestor.ae_title).strip()
        if self._registry.admits(title, requestor.address) or (
                self._also_admits is not None and self._also_admits(title, requestor.address)):
            return [title]
        log.warning("rejected association from %s at %s: not registered", title, requestor.address)
        return ["\x7f-not-registered-\x7f"]

    @require_calling_aet.setter
    def require_calling_aet(self, ae_titles: list[str]) -> None:
        self._require_calling_aet = list(ae_titles)


class DimseServer:
    """Starts and stops every configured DICOM listener."""

    def __init__(self, handlers: DimseHandlers, registry: AERegistry, listeners: list[Listener]) -> None:
        self._handlers = handlers
        self._registry = registry
        self._listeners = listeners
        self._servers: list[Any] = []

    def start(self) -> None:
        """Bind every listener; ConfigError naming the setting if a port cannot be bound."""
        for listener in self._listeners:
            ae = self._application_entity(listener)
            try:
                server = ae.make_server((listener.host, listener.port), ssl_context=listener.tls,
                                        evt_handlers=self._handlers.bindings(listener.storage_only),
                                        server_class=AssociationServer)
            except OSError as exc:
                self.stop()
                raise ConfigError(f"{listener.setting}.port", f"cannot listen on "
                                  f"{listener.host}:{listener.port} ({exc.strerror})") from None
            ae._servers.append(server)
            threading.Thread(target=server.serve_forever, name=f"{listener.name} listener",
                             daemon=True).start()
            self._servers.append(server)
            log.info("%s listening as %s on %s:%d%s", listener.name, listener.ae_title,
                     listener.host, listener.port, " (TLS)" if listener.tls else "")

    def describe(self) -> list[str]:
        """One line per listener, for the start-up banner."""
        return [
            f"{listener.name:<13} {listener.ae_title} on {listener.host}:{listener.port}"
            f"{' (TLS)' if listener.tls else ''}"
            f" — {'C-ECHO, C-STORE' if listener.storage_only else 'C-ECHO, C-STORE, C-FIND, C-GET, C-MOVE'}"
            for listener in self._listeners
        ]

    def stop(self, grace: float = STOP_GRACE_SECONDS) -> None:
        """Stop accepting; let associations in flight end within ``grace`` seconds, then
        abort the rest. Returns once no handler runs any more (nothing is stored half-way)."""
        servers, self._servers = self._servers, []
        for server in servers:
            server.stop(grace)

    def _application_entity(self, listener: Listener) -> AE:
        ae = RegistryAE(listener.ae_title, self._registry,
                        self._handlers.services.ingest.incoming_file, self._handlers.store,
                        listener.also_admits)
        ae.maximum_pdu_size = MAX_PDU
        ae.maximum_associations = 64
        ae.require_called_aet = True
        ae.network_timeout = 120
        ae.acse_timeout = 30
        ae.dimse_timeout = 120
        for context in AllStoragePresentationContexts:
            ae.add_supported_context(context.abstract_syntax, TRANSFER_SYNTAXES,
                                     scu_role=True, scp_role=True)
        ae.add_supported_context(Verification)
        if not listener.storage_only:
            for sop_class in QUERY_RETRIEVE:
                ae.add_supported_context(sop_class)
        return ae

