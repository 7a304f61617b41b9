"""Accounts and the audit log: who may use slidepacs, and who did what.

Passwords are stored as Argon2id hashes only. A new account, or one whose password an
admin reset, must change its password at its next log-in. After
:data:`~slidepacs.domain.accounts.MAX_FAILED_LOGINS` failures in a row an account is locked
for a while, whatever password comes next. Every change to an account, every log-in (good or
bad) and every admin action is appended to the audit log.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timezone

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from slidepacs.domain.accounts import (
    Account,
    Role,
    check_password,
    checked_role,
    checked_username,
    lockout_end,
    new_password,
)
from slidepacs.errors import AccessDenied, NotFound
from slidepacs.index.accounts import AuditEntry
from slidepacs.index.repository import IndexRepository
from slidepacs.index.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)
INITIAL_ADMIN = "admin"
SYSTEM = "system"  # the actor of what slidepacs does by itself
Clock = Callable[[], datetime]


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


class AuditService:
    """Appends to and reads the audit log."""

    def __init__(self, unit_of_work: UnitOfWork) -> None:
        self._uow = unit_of_work

    def record(self, actor: str, action: str, target: str = "", detail: str = "",
               address: str = "") -> None:
        """Append one entry in a transaction of its own."""
        with self._uow.write() as repo:
            repo.audit.add(actor, action, target, detail, address)

    def recent(self, limit: int = 100, actor: str | None = None,
               action: str | None = None, offset: int = 0) -> list[AuditEntry]:
        """The newest entries first (after skipping ``offset`` of them)."""
        with self._uow.read() as repo:
            return repo.audit.recent(limit, actor, action, offset)


class AccountService:
    """Creates, checks and changes accounts; every change is audited."""

    def __init__(self, unit_of_work: UnitOfWork, audit: AuditService,
                 clock: Clock = _utc_now) -> None:
        self._uow = unit_of_work
        self._audit = audit
        self._clock = clock
        self._hasher = PasswordHasher()  # Argon2id with the library's current parameters

    def ensure_initial_admin(self) -> str | None:
        """With no account at all, create ``admin`` with a random password that must be
        changed at first log-in, and return that password (to be shown once); else None."""
        password = new_password()
        with self._uow.write() as repo:
            if repo.accounts.count():
                return None
            repo.accounts.add(INITIAL_ADMIN, Role.ADMIN, self._hasher.hash(password), True)
            repo.audit.add(SYSTEM, "account.create", INITIAL_ADMIN, "role admin (first start)",
                           "")
        log.warning("created the first account %r; its password is shown once on the console "
                    "and must be changed at first log-in", INITIAL_ADMIN)
        return password

    def add(self, username: str, role: str, password: str | None = None, actor: str = SYSTEM,
            address: str = "") -> str | None:
        """Create an account; returns the random password made for it when none was given
        (it must be changed at first log-in). InvalidInput or Conflict change nothing."""
        name, kind = checked_username(username), checked_role(role)
        made = password is None
        secret = new_password() if password is None else password
        check_password(secret, name)
        with self._uow.write() as repo:
            repo.accounts.add(name, kind, self._hasher.hash(secret), must_change=made)
            repo.audit.add(actor, "account.create", name, f"role {kind.value}", address)
        return secret if made else None

    def accounts(self) -> list[Account]:
        """Every account."""
        with self._uow.read() as repo:
            return repo.accounts.all()

    def get(self, username: str) -> Account | None:
        """The account named ``username`` (any case), or None."""
        with self._uow.read() as repo:
            found = repo.accounts.get(username.strip())
        return None if found is None else found[0]

    def authenticate(self, username: str, password: str, address: str = "") -> Account:
        """The account, when ``password`` is its password and it is not locked; AccessDenied
        otherwise (the same message whether the user exists or not). Audited either way."""
        now = self._clock()
        with self._uow.write() as repo:
            found = repo.accounts.get(username.strip())
            if found is None:
                self._hasher.hash(password)  # the same work as a real check: no timing oracle
                repo.audit.add(username.strip()[:64], "login.failed", "", "unknown user", address)
                outcome: Account | str = "unknown"
            else:
                outcome = self._check(repo, found, password, now, address)
        if isinstance(outcome, str):
            raise AccessDenied("locked: too many failed log-ins, try again later"
                               if outcome == "locked" else "wrong user name or password")
        return outcome

    def change_password(self, username: str, old: str, new: str, address: str = "") -> None:
        """A user's own change: the old password must be right; the new one must differ."""
        account = self.authenticate(username, old, address)
        check_password(new, account.username)
        if new == old:
            raise AccessDenied("the new password must differ from the old one")
        with self._uow.write() as repo:
            repo.accounts.update(account.username, password_hash=self._hasher.hash(new),
                                 must_change_password=False)
            repo.audit.add(account.username, "password.change", account.username, "", address)

    def reset_password(self, username: str, actor: str = SYSTEM, address: str = "") -> str:
        """An admin's reset: a new random password, to be changed at next log-in; the
        account is unlocked. Returns the password (to be handed over once)."""
        password = new_password()
        with self._uow.write() as repo:
            if not repo.accounts.update(username, password_hash=self._hasher.hash(password),
                                        must_change_password=True, failed_logins=0,
                                        locked_until=None):
                raise NotFound(f"no user {username!r}")
            repo.audit.add(actor, "password.reset", username, "", address)
        return password

    def unlock(self, username: str, actor: str = SYSTEM, address: str = "") -> None:
        """End a lockout and forget the failed log-ins."""
        with self._uow.write() as repo:
            if not repo.accounts.update(username, failed_logins=0, locked_until=None):
                raise NotFound(f"no user {username!r}")
            repo.audit.add(actor, "account.unlock", username, "", address)

    def set_role(self, username: str, role: str, actor: str = SYSTEM,
                 address: str = "") -> None:
        """Give an account another role (the last admin keeps admin)."""
        kind = checked_role(role)
        with self._uow.write() as repo:
            found = repo.accounts.get(username)
            if found is None:
                raise NotFound(f"no user {username!r}")
            if found[0].role is Role.ADMIN and kind is not Role.ADMIN:
                _keep_an_admin(repo.accounts.all(), found[0].username)
            repo.accounts.update(username, role=kind)
            repo.audit.add(actor, "account.role", found[0].username,
                           f"{found[0].role.value} -> {kind.value}", address)

    def remove(self, username: str, actor: str = SYSTEM, address: str = "") -> None:
        """Delete an account (not the last admin)."""
        with self._uow.write() as repo:
            found = repo.accounts.get(username)
            if found is None:
                raise NotFound(f"no user {username!r}")
            if found[0].role is Role.ADMIN:
                _keep_an_admin(repo.accounts.all(), found[0].username)
            repo.accounts.remove(username)
            repo.audit.add(actor, "account.remove", found[0].username, "", address)

    def _check(self, repo: IndexRepository, found: tuple[Account, str], password: str,
               now: datetime, address: str) -> Account | str:
        account, stored_hash = found
        accounts, audit = repo.accounts, repo.audit
        if account.locked(now):
            audit.add(account.username, "login.failed", "", "account locked", address)
            return "locked"
        try:
            self._hasher.verify(stored_hash, password)
        except (VerificationError, InvalidHashError):
            failures = account.failed_logins + 1
            locked_until = lockout_end(failures, now)
            accounts.update(account.username, failed_logins=0 if locked_until else failures,
                            locked_until=locked_until)
            audit.add(account.username, "login.failed", "",
                      "wrong password" + (", account locked" if locked_until else ""), address)
            return "wrong"
        changes: dict[str, object] = {"failed_logins": 0, "locked_until": None,
                                      "last_login_at": now}
        if self._hasher.check_needs_rehash(stored_hash):
            changes["password_hash"] = self._hasher.hash(password)
        accounts.update(account.username, **changes)
        audit.add(account.username, "login", "", "", address)
        return Account(account.username, account.role, account.must_change_password, 0, None,
                       account.created_at, now)


def _keep_an_admin(accounts: list[Account], leaving: str) -> None:
    if not any(a.role is Role.ADMIN and a.username != leaving for a in accounts):
        raise AccessDenied(f"{leaving!r} is the last admin: make another admin first")
