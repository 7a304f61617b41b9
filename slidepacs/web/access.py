"""The one access check every HTTP route depends on.

Until accounts exist the front is either open (a closed lab network) or protected by bearer
tokens whose SHA-256 digests are in the configuration (``slidepacs http token`` makes one).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from fastapi import HTTPException, Request

from slidepacs.config import HttpAccess, HttpSettings


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is calling: the client address and, with token access, which token matched."""

    address: str
    token_digest: str = ""


def new_token() -> tuple[str, str]:
    """A new random bearer token and the SHA-256 digest to put in ``http.token_sha256``."""
    token = secrets.token_urlsafe(32)
    return token, token_digest(token)


def token_digest(token: str) -> str:
    """SHA-256 hex digest of a token, as configured."""
    return hashlib.sha256(token.encode()).hexdigest()


class AccessPolicy:
    """Decides whether a request may proceed (a FastAPI dependency)."""

    def __init__(self, settings: HttpSettings) -> None:
        self._open = settings.access is HttpAccess.OPEN
        self._digests = settings.token_sha256

    async def __call__(self, request: Request) -> Caller:
        """The caller, or HTTPException 401 (async: it never blocks, and an async dependency
        runs on the event loop instead of costing a hand-off to a worker thread)."""
        return self.check(request)

    def check(self, request: Request) -> Caller:
        """The caller of ``request``, or HTTPException 401."""
        address = request.client.host if request.client else ""
        if self._open:
            return Caller(address)
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            digest = token_digest(token.strip())
            if any(hmac.compare_digest(digest, known) for known in self._digests):
                return Caller(address, digest)
        raise HTTPException(401, "a valid bearer token is required",
                            headers={"WWW-Authenticate": 'Bearer realm="slidepacs"'})
