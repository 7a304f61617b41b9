"""Hierarchical queries for C-FIND and QIDO-RS, answered from the index only."""

from __future__ import annotations

from slidepacs.domain.query import Query
from slidepacs.index.find import MatchRow, count, find
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
