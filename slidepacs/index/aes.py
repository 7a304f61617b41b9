"""Rows of the AE registry."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from slidepacs.domain.aes import RemoteAE
from slidepacs.errors import Conflict
from slidepacs.index.tables import RemoteAETable


class AERepository:
    """Remote AEs in the index (the caller's unit of work commits)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def all(self) -> list[RemoteAE]:
        """Every registered AE, by name."""
        rows = self.session.scalars(select(RemoteAETable).order_by(RemoteAETable.name))
        return [_record(row) for row in rows]

    def by_title(self, ae_title: str) -> RemoteAE | None:
        """The AE registered with this title, if any."""
        row = self.session.scalar(select(RemoteAETable).where(RemoteAETable.ae_title == ae_title))
        return _record(row) if row else None

    def by_name(self, name: str) -> RemoteAE | None:
        """The AE registered under this name, if any."""
        row = self.session.scalar(select(RemoteAETable).where(RemoteAETable.name == name))
        return _record(row) if row else None

    def add(self, ae: RemoteAE) -> None:
        """Register an AE; Conflict if its name or title is taken."""
        for field, value in (("name", ae.name), ("AE title", ae.ae_title)):
            taken = self.by_name(value) if field == "name" else self.by_title(value)
            if taken is not None:
                raise Conflict(f"{field} {value!r} is already registered (as {taken.name!r})")
        self.session.add(RemoteAETable(name=ae.name, ae_title=ae.ae_title, host=ae.host,
                                       port=ae.port, auto_registered=ae.auto_registered))
        self.session.flush()

    def remove(self, name: str) -> bool:
        """Unregister an AE by name or AE title; False if there was none."""
        result = self.session.execute(delete(RemoteAETable).where(
            (RemoteAETable.name == name) | (RemoteAETable.ae_title == name)))
        return bool(result.rowcount)


def _record(row: RemoteAETable) -> RemoteAE:
    return RemoteAE(row.name, row.ae_title, row.host, row.port, row.auto_registered)
