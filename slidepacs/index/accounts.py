"""Rows of accounts and of the audit log."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from slidepacs.domain.accounts import Account, Role
from slidepacs.errors import Conflict
from slidepacs.index.tables import AccountTable, AuditTable
from slidepacs.index.times import aware


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One line of the audit log."""

    at: datetime
    actor: str
    action: str
    target: str
    detail: str
    address: str


class AccountRepository:
    """Accounts in the index (the caller's unit of work commits)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def count(self) -> int:
        """How many accounts there are."""
        return int(self.session.scalar(select(func.count()).select_from(AccountTable)) or 0)

    def all(self) -> list[Account]:
        """Every account, by user name."""
        rows = self.session.scalars(select(AccountTable).order_by(AccountTable.username_key))
        return [_account(row) for row in rows]

    def get(self, username: str) -> tuple[Account, str] | None:
        """An account and its password hash, by user name (any case), if it exists."""
        row = self._row(username)
        return (_account(row), row.password_hash) if row is not None else None

    def add(self, username: str, role: Role, password_hash: str, must_change: bool) -> None:
        """Create an account; Conflict if the name (in any case) is taken."""
        if self._row(username) is not None:
            raise Conflict(f"user {username!r} already exists")
        self.session.add(AccountTable(
            username=username, username_key=username.lower(), password_hash=password_hash,
            role=role.value, must_change_password=must_change, failed_logins=0))
        self.session.flush()

    def update(self, username: str, **values: object) -> bool:
        """Set columns of an account (row lock on PostgreSQL); False if there is none."""
        row = self._row(username, for_update=True)
        if row is None:
            return False
        for name, value in values.items():
            setattr(row, name, value.value if isinstance(value, Role) else value)
        self.session.flush()
        return True

    def remove(self, username: str) -> bool:
        """Delete an account; False if there was none."""
        result = self.session.execute(
            delete(AccountTable).where(AccountTable.username_key == username.lower()))
        return bool(result.rowcount)

    def _row(self, username: str, for_update: bool = False) -> AccountTable | None:
        statement = select(AccountTable).where(AccountTable.username_key == username.lower())
        return self.session.scalar(statement.with_for_update() if for_update else statement)


class AuditRepository:
    """The append-only audit log."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, actor: str, action: str, target: str, detail: str, address: str) -> None:
        """Append one entry (long values are cut to their column)."""
        self.session.add(AuditTable(actor=actor[:64], action=action[:64], target=target,
                                    detail=detail, address=address[:64]))
        self.session.flush()

    def recent(self, limit: int, actor: str | None = None,
               action: str | None = None, offset: int = 0) -> list[AuditEntry]:
        """The newest entries first (skipping ``offset``), optionally of one actor or action."""
        statement = select(AuditTable).order_by(AuditTable.at.desc(), AuditTable.pk.desc())
        if actor:
            statement = statement.where(AuditTable.actor == actor)
        if action:
            statement = statement.where(AuditTable.action == action)
        return [AuditEntry(aware(row.at), row.actor, row.action, row.target, row.detail,
                           row.address)
                for row in self.session.scalars(statement.offset(offset).limit(limit))]


def _account(row: AccountTable) -> Account:
    return Account(row.username, Role(row.role), bool(row.must_change_password),
                   row.failed_logins, aware(row.locked_until), aware(row.created_at),
                   aware(row.last_login_at))
