"""Hierarchical queries for C-FIND and QIDO-RS, answered from the index only."""

from __future__ import annotations

from slidepacs.domain.query import Level, Query
from slidepacs.index.find import MatchRow, count, fields_for, find
from slidepacs.index.unit_of_work import UnitOfWork


class QueryService:
    """Finds patients, studies, series or instances matching a query."""

    def __init__(self, unit_of_work: UnitOfWork) -> None:
        self._uow = unit_of_work

    def find(self, query: Query) -> list[MatchRow]:
        """Matches at the query's level, each a dict keyed by DICOM keyword."""
        with self._uow.read() as repo:
            return find(repo.session, query)

    def count(self, query: Query) -> int:
        """Number of matches, ignoring limit and offset."""
        with self._uow.read() as repo:
            return count(repo.session, query)

    @staticmethod
    def returned_keys(level: Level) -> list[str]:
        """The keywords every match at ``level`` carries (index fields, not all DICOM)."""
        return list(fields_for(level))
