"""Accounts of people who use slidepacs' web front and administer it; pure, no I/O.

Roles, from most to least rights: ``admin`` (everything, accounts included), ``lab_admin``
(scanners, image rules, AEs, forwarding; no accounts), ``user`` (search and view). A password
is at least :data:`MIN_PASSWORD_LENGTH` characters and is never the user name; after
:data:`MAX_FAILED_LOGINS` failed log-ins in a row an account is locked for
:data:`LOCKOUT_SECONDS`.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum

from slidepacs.errors import InvalidInput

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024
MAX_FAILED_LOGINS = 5
LOCKOUT_SECONDS = 15 * 60
_USERNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")


class Role(str, Enum):
    """What an account may do."""

    ADMIN = "admin"
    LAB_ADMIN = "lab_admin"
    USER = "user"


@dataclass(frozen=True, slots=True)
class Account:
    """An account as the index holds it (never its password hash)."""

    username: str
    role: Role
    must_change_password: bool
    failed_logins: int
    locked_until: datetime | None
    created_at: datetime
    last_login_at: datetime | None

    def locked(self, now: datetime) -> bool:
        """True while a lockout runs."""
        return self.locked_until is not None and now < self.locked_until


def checked_username(text: str) -> str:
    """A user name: 1–64 letters, digits and ``. _ @ -``, starting with a letter or digit;
    InvalidInput otherwise. Names are kept as given and compared case-insensitively."""
    name = text.strip()
    if not _USERNAME.fullmatch(name):
        raise InvalidInput(f"user name {text!r} must be 1 to 64 letters, digits or . _ @ -, "
                           "starting with a letter or digit")
    return name


def checked_role(text: str) -> Role:
    """The role named ``text``; InvalidInput naming the roles otherwise."""
    try:
        return Role(text.strip().lower())
    except ValueError:
        raise InvalidInput(f"role {text!r} is not one of "
                           f"{', '.join(r.value for r in Role)}") from None


def check_password(password: str, username: str) -> None:
    """InvalidInput when ``password`` is too short, too long or the user name."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise InvalidInput(f"a password has at most {MAX_PASSWORD_LENGTH} characters")
    if password.strip().lower() == username.strip().lower():
        raise InvalidInput("a password must not be the user name")


def new_password() -> str:
    """A random password (about 120 bits), for a new account or a reset."""
    return secrets.token_urlsafe(15)


def lockout_end(failed_logins: int, now: datetime) -> datetime | None:
    """When the lockout that ``failed_logins`` failures in a row start ends (None: none)."""
    if failed_logins >= MAX_FAILED_LOGINS:
        return now + timedelta(seconds=LOCKOUT_SECONDS)
    return None
