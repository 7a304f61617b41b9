"""Bearer tokens (DICOMweb clients, browser sessions, scanners): random, and kept only as
their SHA-256 digest."""

from __future__ import annotations

import hashlib
import secrets


def new_token() -> tuple[str, str]:
    """A new random token and its digest (the only part to store)."""
    token = secrets.token_urlsafe(32)
    return token, token_digest(token)


def token_digest(token: str) -> str:
    """The SHA-256 (hex) of a token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()
