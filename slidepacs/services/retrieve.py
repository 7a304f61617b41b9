"""Which stored files a C-GET / C-MOVE (or WADO) retrieves, answered from the index."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from slidepacs.domain.query import Query
from slidepacs.index.unit_of_work import UnitOfWork
from slidepacs.storage import BlobStore


@dataclass(frozen=True, slots=True)
class RetrieveItem:
    """One stored instance to send, with what negotiation needs to know about it."""

    path: Path
    sop_class_uid: str
    sop_instance_uid: str
    transfer_syntax_uid: str
    size: int


class RetrieveService:
    """Resolves a retrieve query to stored files."""

    def __init__(self, unit_of_work: UnitOfWork, store: BlobStore) -> None:
        self._uow = unit_of_work
        self._store = store

    def items(self, query: Query) -> list[RetrieveItem]:
        """Every stored instance under the entities the query names, in series order."""
        with self._uow.read() as repo:
            rows = [(r.relpath, r.sop_class_uid, r.sop_instance_uid, r.transfer_syntax_uid,
                     r.file_size) for r in repo.find_instances(query)]
        return [RetrieveItem(self._store.path(rel), sop_class, sop_uid, syntax, size)
                for rel, sop_class, sop_uid, syntax, size in rows]
