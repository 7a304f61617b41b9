"""One-time RSA keys for log-ins from other software without a password in the URL (SPEC §7).

``issue`` makes a fresh RSA-2048 key pair and hands out its public key; the caller encrypts
``id=<user>&password=<password>`` with RSA-OAEP (SHA-256, or SHA-1 for older libraries) and
sends it base64url-encoded as ``code``. ``redeem`` finds the key that decrypts it, forgets that
key (single use) and returns the credentials. A key also ends after ``ttl`` seconds. At most
:data:`MAX_OUTSTANDING` keys wait at once; the oldest goes first.
"""

from __future__ import annotations

import base64
import binascii
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qs

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from slidepacs.errors import AccessDenied

MAX_OUTSTANDING = 64
MAX_CODE_CHARS = 2048
_HASHES = (hashes.SHA256, hashes.SHA1)
Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class OneTimeKey:
    """A public key handed out: its id, PEM text and seconds until it expires."""

    key_id: str
    public_pem: str
    expires_in: int


class OneTimeKeys:
    """Issues and redeems single-use, expiring RSA keys."""

    def __init__(self, ttl_seconds: float, clock: Clock = time.monotonic) -> None:
        self._ttl = ttl_seconds
        self._clock = clock
        self._keys: OrderedDict[str, tuple[rsa.RSAPrivateKey, float]] = OrderedDict()
        self._lock = threading.Lock()

    def issue(self) -> OneTimeKey:
        """A new key pair; the public half, PEM-encoded (SubjectPublicKeyInfo)."""
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        key_id = secrets.token_urlsafe(12)
        with self._lock:
            self._forget_expired()
            while len(self._keys) >= MAX_OUTSTANDING:
                self._keys.popitem(last=False)
            self._keys[key_id] = (private, self._clock() + self._ttl)
        pem = private.public_key().public_bytes(serialization.Encoding.PEM,
                                                serialization.PublicFormat.SubjectPublicKeyInfo)
        return OneTimeKey(key_id, pem.decode(), int(self._ttl))

    def redeem(self, code: str) -> tuple[str, str]:
        """The user name and password in ``code``; the key that opened it is used up.
        AccessDenied when no live key opens it or it does not carry id and password."""
        cipher = _decoded(code)
        with self._lock:
            self._forget_expired()
            candidates = list(self._keys.items())
        for key_id, (private, _expires) in candidates:
            plain = _decrypt(private, cipher)
            if plain is None:
                continue
            with self._lock:
                if self._keys.pop(key_id, None) is None:
                    break  # redeemed by a concurrent request a moment ago
            return _credentials(plain)
        raise AccessDenied("the code does not open with any live one-time key "
                           "(used already, expired, or not encrypted with one)")

    def _forget_expired(self) -> None:
        now = self._clock()
        for key_id in [k for k, (_, expires) in self._keys.items() if expires <= now]:
            del self._keys[key_id]


def _decoded(code: str) -> bytes:
    text = code.strip()
    if not text or len(text) > MAX_CODE_CHARS:
        raise AccessDenied("the code is empty or too long")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise AccessDenied("the code is not base64url") from None


def _decrypt(private: rsa.RSAPrivateKey, cipher: bytes) -> bytes | None:
    for algorithm in _HASHES:
        try:
            return private.decrypt(cipher, padding.OAEP(mgf=padding.MGF1(algorithm()),
                                                        algorithm=algorithm(), label=None))
        except ValueError:
            continue
    return None


def _credentials(plain: bytes) -> tuple[str, str]:
    try:
        fields = parse_qs(plain.decode("utf-8"), keep_blank_values=True, strict_parsing=True)
    except (UnicodeDecodeError, ValueError):
        raise AccessDenied("the decrypted code is not id=…&password=…") from None
    user, password = fields.get("id", [""])[0], fields.get("password", [""])[0]
    if not user or not password:
        raise AccessDenied("the decrypted code lacks id or password")
    return user, password
