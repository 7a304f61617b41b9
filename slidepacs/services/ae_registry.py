"""The AE registry: which remote AEs may associate, and where C-MOVE destinations are."""

from __future__ import annotations

import logging
import threading
import time

from slidepacs.domain.aes import RemoteAE, checked_ae_title, checked_host
from slidepacs.errors import NotFound
from slidepacs.index.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)
CACHE_SECONDS = 2.0
AUTO_REGISTERED_PORT = 104


class AERegistry:
    """Registered remote AEs ("DICOM users") and the association admission policy."""

    def __init__(self, unit_of_work: UnitOfWork, accept_unregistered: bool) -> None:
        self._uow = unit_of_work
        self.accept_unregistered = accept_unregistered
        self._cache: dict[str, RemoteAE] = {}
        self._cache_time = 0.0
        self._lock = threading.Lock()

    def list(self) -> list[RemoteAE]:
        """Every registered AE, by name."""
        with self._uow.read() as repo:
            return repo.aes.all()

    def add(self, name: str, ae_title: str, host: str, port: int) -> RemoteAE:
        """Register a remote AE (InvalidInput or Conflict if it cannot be)."""
        ae = RemoteAE.create(name, ae_title, host, port)
        with self._uow.write() as repo:
            repo.aes.add(ae)
        self._invalidate()
        log.info("registered AE %s (%s at %s:%d)", ae.name, ae.ae_title, ae.host, ae.port)
        return ae

    def remove(self, name_or_title: str) -> None:
        """Unregister an AE by name or title; NotFound if it is not registered."""
        with self._uow.write() as repo:
            removed = repo.aes.remove(name_or_title.strip())
        if not removed:
            raise NotFound(f"no AE named or titled {name_or_title!r} is registered")
        self._invalidate()
        log.info("unregistered AE %s", name_or_title)

    def get(self, name_or_title: str) -> RemoteAE:
        """The registered AE with this title (or name); NotFound otherwise."""
        key = name_or_title.strip()
        known = self._snapshot()
        if key in known:
            return known[key]
        for ae in known.values():
            if ae.name == key:
                return ae
        raise NotFound(f"AE {key!r} is not registered")

    def admits(self, calling_ae_title: str, peer_address: str) -> bool:
        """May an association from this AE title at this address proceed?"""
        if self.accept_unregistered:
            return True
        known = self._snapshot().get(calling_ae_title.strip())
        return known is not None and _same_host(known.host, peer_address)

    def register_on_first_store(self, calling_ae_title: str, peer_address: str) -> None:
        """With ``accept_unregistered``, record a storing AE the first time it is seen."""
        title = calling_ae_title.strip()
        if not self.accept_unregistered or title in self._snapshot():
            return
        try:
            ae = RemoteAE(title, checked_ae_title(title), checked_host(peer_address),
                          AUTO_REGISTERED_PORT, auto_registered=True)
            with self._uow.write() as repo:
                if repo.aes.by_title(title) is None and repo.aes.by_name(title) is None:
                    repo.aes.add(ae)
                    log.info("auto-registered AE %s from %s on its first store", title, peer_address)
        finally:
            self._invalidate()

    def _snapshot(self) -> dict[str, RemoteAE]:
        with self._lock:
            if time.monotonic() - self._cache_time > CACHE_SECONDS:
                with self._uow.read() as repo:
                    self._cache = {ae.ae_title: ae for ae in repo.aes.all()}
                self._cache_time = time.monotonic()
            return self._cache

    def _invalidate(self) -> None:
        with self._lock:
            self._cache_time = 0.0


def _same_host(registered: str, peer_address: str) -> bool:
    """True when the peer's IP is the registered host (an IP, or a name resolving to it)."""
    if registered == peer_address:
        return True
    import socket

    try:
        return peer_address in {info[4][0] for info in socket.getaddrinfo(registered, None)}
    except OSError:
        return False
