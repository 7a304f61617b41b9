"""The browser's study list: searches in the SPEC §7 URL language, and a study's drill-down."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date

from slidepacs.domain.list_search import ListSearch, parse_list_search
from slidepacs.domain.study_list import StudyDetail, StudyPage
from slidepacs.errors import NotFound
from slidepacs.index.unit_of_work import UnitOfWork


class StudyListService:
    """Answers the study list from the index (never by opening files)."""

    def __init__(self, unit_of_work: UnitOfWork, today: Callable[[], date] = date.today) -> None:
        self._uow = unit_of_work
        self._today = today

    def parse(self, pairs: Iterable[tuple[str, str]]) -> ListSearch:
        """The search that query-string pairs describe (InvalidInput naming the parameter)."""
        return parse_list_search(pairs, self._today())

    def search(self, search: ListSearch) -> StudyPage:
        """A page of matching studies and their total."""
        with self._uow.read() as repo:
            return repo.study_list.search(search)

    def detail(self, study_instance_uid: str) -> StudyDetail:
        """A study with its series and instances; NotFound when unknown."""
        with self._uow.read() as repo:
            found = repo.study_list.detail(study_instance_uid)
        if found is None:
            raise NotFound(f"no study {study_instance_uid!r}")
        return found
