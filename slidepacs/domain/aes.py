"""Application Entities: the local provider and the registered remote peers ("DICOM users")."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from slidepacs.errors import InvalidInput

_AE_TITLE = re.compile(r"^[\x20-\x5b\x5d-\x7e]{1,16}$")  # printable ASCII without backslash
_HOST = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$")


def checked_ae_title(value: str) -> str:
    """The AE title without padding, or InvalidInput (PS3.5: 16 chars, no backslash/control)."""
    title = value.strip()
    if not title or not _AE_TITLE.match(value):
        raise InvalidInput(f"{value!r} is not an AE title (1-16 printable characters, no backslash)")
    return title


def checked_host(value: str) -> str:
    """An IP address or host name, or InvalidInput."""
    host = value.strip()
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        if _HOST.match(host):
            return host.lower()
    raise InvalidInput(f"{value!r} is not an IP address or host name")


def checked_port(value: int) -> int:
    """A TCP port number, or InvalidInput."""
    if not 1 <= value <= 65535:
        raise InvalidInput(f"{value} is not a port (1-65535)")
    return value


@dataclass(frozen=True, slots=True)
class RemoteAE:
    """A registered DICOM peer: trusted by AE title + address, reachable at host:port."""

    name: str
    ae_title: str
    host: str
    port: int
    auto_registered: bool = False

    @staticmethod
    def create(name: str, ae_title: str, host: str, port: int) -> RemoteAE:
        """A validated RemoteAE (InvalidInput names the bad field)."""
        if not name.strip() or len(name) > 64:
            raise InvalidInput("name must be 1-64 characters")
        return RemoteAE(name.strip(), checked_ae_title(ae_title), checked_host(host),
                        checked_port(port))
