#!/usr/bin/env python3
"""Log in to slidepacs from other software without a password in the URL (one-time key).

1. GET /viewer/api/otp/ gives a single-use RSA public key that expires (60 s by default).
2. Encrypt ``id=<user>&password=<password>`` with it: RSA-OAEP with SHA-256, base64url.
3. Either POST it as ``code`` to /viewer/api/login (200 and a session cookie, or 401), or open
   ``/viewer/#/list?code=<code>&patientid=…`` in a browser, which logs in with it and removes
   it from the address bar and history.

Usage: otp_login.py BASE_URL USER [--browser-url] [--query 'patientid=123']
The password is read from the SLIDEPACS_PASSWORD environment variable or asked for.
Needs: httpx, cryptography.
"""

from __future__ import annotations

import argparse
import base64
import getpass
import os
import sys
from urllib.parse import urlencode

import httpx
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa


def one_time_code(base_url: str, user: str, password: str, client: httpx.Client) -> str:
    """Fetch a one-time key and return the encrypted, base64url-encoded credentials."""
    answer = client.get(f"{base_url}/viewer/api/otp/")
    answer.raise_for_status()
    key = serialization.load_pem_public_key(answer.json()["public_key"].encode())
    assert isinstance(key, rsa.RSAPublicKey)
    plain = urlencode({"id": user, "password": password}).encode()
    cipher = key.encrypt(plain, padding.OAEP(mgf=padding.MGF1(hashes.SHA256()),
                                             algorithm=hashes.SHA256(), label=None))
    return base64.urlsafe_b64encode(cipher).rstrip(b"=").decode()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base_url", help="e.g. http://pacs.lab:8042")
    parser.add_argument("user")
    parser.add_argument("--browser-url", action="store_true",
                        help="print a /viewer/#/list URL with the code instead of logging in")
    parser.add_argument("--query", default="", help="search keys for the list, e.g. patientid=1")
    parser.add_argument("--ca", default=None, help="CA certificate file for HTTPS")
    args = parser.parse_args()
    base = args.base_url.rstrip("/")
    password = os.environ.get("SLIDEPACS_PASSWORD") or getpass.getpass(f"{args.user}'s password: ")
    with httpx.Client(verify=args.ca or True, timeout=30) as client:
        code = one_time_code(base, args.user, password, client)
        if args.browser_url:
            extra = f"&{args.query}" if args.query else ""
            print(f"{base}/viewer/#/list?code={code}{extra}")
            return 0
        answer = client.post(f"{base}/viewer/api/login", json={"code": code})
        print(answer.status_code, answer.json().get("username") or answer.json().get("detail"))
        return 0 if answer.status_code == 200 else 1


if __name__ == "__main__":
    sys.exit(main())
