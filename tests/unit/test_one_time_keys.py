"""One-time RSA keys: single use, expiry, the oldest key leaves when too many wait."""

from __future__ import annotations

import base64
from urllib.parse import urlencode

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from slidepacs.errors import AccessDenied
from slidepacs.services import otp
from slidepacs.services.otp import OneTimeKeys


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


def code_for(pem: str, plain: str) -> str:
    key = serialization.load_pem_public_key(pem.encode())
    assert isinstance(key, rsa.RSAPublicKey)
    cipher = key.encrypt(plain.encode(), padding.OAEP(mgf=padding.MGF1(hashes.SHA256()),
                                                      algorithm=hashes.SHA256(), label=None))
    return base64.urlsafe_b64encode(cipher).decode()


def test_a_key_opens_one_code_once_and_expires_after_its_time() -> None:
    clock = Clock()
    keys = OneTimeKeys(30, clock)
    first, second = keys.issue(), keys.issue()
    assert first.key_id != second.key_id and first.public_pem != second.public_pem
    code = code_for(first.public_pem, urlencode({"id": "ann", "password": "p&q=r s"}))
    assert keys.redeem(code) == ("ann", "p&q=r s")
    with pytest.raises(AccessDenied, match="used already"):
        keys.redeem(code)
    late = code_for(second.public_pem, "id=ann&password=x")
    clock.now = 30.0
    with pytest.raises(AccessDenied):
        keys.redeem(late)


def test_decrypted_text_without_id_or_password_is_refused_and_uses_the_key() -> None:
    keys = OneTimeKeys(30, Clock())
    key = keys.issue()
    with pytest.raises(AccessDenied, match="lacks id or password"):
        keys.redeem(code_for(key.public_pem, "id=ann"))
    with pytest.raises(AccessDenied, match="used already"):
        keys.redeem(code_for(key.public_pem, "id=ann&password=x"))


def test_only_so_many_keys_wait_and_the_oldest_goes_first(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(otp, "MAX_OUTSTANDING", 2)
    keys = OneTimeKeys(30, Clock())
    oldest, middle, newest = keys.issue(), keys.issue(), keys.issue()
    with pytest.raises(AccessDenied):
        keys.redeem(code_for(oldest.public_pem, "id=a&password=b"))
    assert keys.redeem(code_for(middle.public_pem, "id=a&password=b")) == ("a", "b")
    assert keys.redeem(code_for(newest.public_pem, "id=a&password=c")) == ("a", "c")
