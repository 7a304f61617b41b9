"""Which stored files a C-GET / C-MOVE (or WADO) retrieves, answered from the index."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydicom.dataset import Dataset

from slidepacs.dicom.tag_values import element_range, read_metadata
from slidepacs.domain.query import Level, Query, SingleValue, parse_condition
from slidepacs.errors import InvalidInput, NotFound
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

    def __init__(self, unit_of_work: UnitOfWork, store: BlobStore,
                 default_charset: str = "ISO_IR 100") -> None:
        self._uow = unit_of_work
        self._store = store
        self._charset = default_charset

    def items(self, query: Query) -> list[RetrieveItem]:
        """Every stored instance under the entities the query names, in series order."""
        with self._uow.read() as repo:
            rows = [(r.relpath, r.sop_class_uid, r.sop_instance_uid, r.transfer_syntax_uid,
                     r.file_size) for r in repo.find_instances(query)]
        return [RetrieveItem(self._store.path(rel), sop_class, sop_uid, syntax, size)
                for rel, sop_class, sop_uid, syntax, size in rows]

    def instances(self, study_uid: str, series_uid: str = "",
                  sop_uid: str = "") -> list[RetrieveItem]:
        """The stored instances of a study, a series or one instance; NotFound when none."""
        keys = {"StudyInstanceUID": study_uid, "SeriesInstanceUID": series_uid,
                "SOPInstanceUID": sop_uid}
        conditions = []
        for keyword, uid in keys.items():
            if uid:
                condition = parse_condition(keyword, uid)
                if not isinstance(condition.match, SingleValue):
                    raise InvalidInput(f"{keyword} {uid!r} is not one UID")
                conditions.append(condition)
        items = self.items(Query(Level.IMAGE, tuple(conditions)))
        if not items:
            named = " / ".join(uid for uid in keys.values() if uid)
            raise NotFound(f"nothing stored under {named}")
        return items

    def metadata(self, item: RetrieveItem) -> Dataset:
        """The instance's attributes up to Pixel Data (large values not read)."""
        return read_metadata(item.path, self._charset)

    def bulk_range(self, item: RetrieveItem, tag: int) -> tuple[int, int]:
        """(offset, length) of a top-level element's value in the instance's file."""
        return element_range(item.path, tag)
