"""The quarantine: received slides that broke their sender's image rules, never lost.

A quarantined file is written like a stored one — streamed into a temporary file in every
storage location (data path and backup paths), fsynced, then, inside the index transaction
that records it, renamed to ``<location>/quarantine/<YYYYMMDD>/<id>[.<ext>].quarantined`` with
its folder fsynced — so once :meth:`QuarantineService.quarantine` returns, the file is safe
everywhere and listed. A retry re-applies the sender's current rules; a file that now keeps
to them goes through the normal ingest service and leaves the quarantine only after ingest
has committed it. Deleting is an explicit administrator action, logged.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from enum import Enum
from pathlib import Path

from slidepacs.domain.image_rules import RuleDecision, SlideValues
from slidepacs.domain.quarantine import NewQuarantineEntry, QuarantineEntry
from slidepacs.errors import InvalidInput, NotFound, SlidepacsError
from slidepacs.index.unit_of_work import UnitOfWork
from slidepacs.services.image_rules import ImageRulesService
from slidepacs.services.ingest import IngestResult, IngestService
from slidepacs.services.slide_gate import RuleBroken
from slidepacs.storage import MirroredFileStore

log = logging.getLogger(__name__)
FOLDER = "quarantine"
SUFFIX = ".quarantined"
_EXTENSION = re.compile(r"^\.[A-Za-z0-9]{1,8}$")


class RetryOutcome(str, Enum):
    """What a retry did with one quarantined file."""

    INGESTED = "ingested"            # keeps to the rules now; stored and indexed; out of quarantine
    STILL_BREAKS_RULES = "still breaks the rules"
    INGEST_FAILED = "ingest failed"  # keeps to the rules, but ingest refused the file


@dataclass(frozen=True, slots=True)
class RetryResult:
    """The outcome of retrying one quarantined file."""

    entry: QuarantineEntry
    outcome: RetryOutcome
    detail: str
    decision: RuleDecision
    ingested: IngestResult | None = None


class QuarantineService:
    """Keeps, lists, re-processes and deletes quarantined files."""

    def __init__(self, unit_of_work: UnitOfWork, store: MirroredFileStore,
                 rules: ImageRulesService, ingest: IngestService) -> None:
        self._uow = unit_of_work
        self._store = store
        self._rules = rules
        self._ingest = ingest

    def quarantine(self, path: Path, ae_title: str, values: SlideValues,
                   decision: RuleDecision, source: str = "", handover: bool = False,
                   original_name: str | None = None) -> int:
        """Keep ``path`` with the reason the decision gives; returns the quarantine ID.
        StorageFailure if it cannot be written. The file is copied, so the caller may then
        drop its own — or, with ``handover``, a file received into the store's incoming
        folder is moved instead (multi-gigabyte slides are not copied; the caller must not
        use ``path`` afterwards). ``original_name`` is the sender's name for the file
        (default: the name of ``path``). If this raises, nothing was kept (a handed-over
        file is gone too, as in ingest): the caller must refuse the store, so that the
        sender, which still has the slide, sends it again."""
        if decision.accepted:
            raise InvalidInput("only a slide that breaks its rules is quarantined")
        now = _now()
        name = original_name or path.name
        relpath = _relpath(Path(name), now)
        staged = (self._store.adopt(path, relpath) if handover
                  else self._store.stage(path, relpath))
        try:
            with self._uow.write() as repo:
                pk = repo.image_rules.add_entry(NewQuarantineEntry(
                    ae_title.strip(), source, relpath, name, staged.size, staged.checksum,
                    decision.violation or "", decision.rules_version, values), now)
                self._store.publish([staged])
        except BaseException:
            self._store.discard(staged)
            raise
        log.warning("quarantined %s from %s as #%d (%s): %s", name, ae_title or "-", pk,
                    relpath, decision.violation)
        return pk

    def keep(self, path: Path, broken: RuleBroken, source: str, handover: bool) -> int:
        """Quarantine a file whose slide broke its sender's rules (the ingest service's
        :data:`~slidepacs.services.ingest.QuarantineKeeper`); as :meth:`quarantine`."""
        return self.quarantine(path, broken.sender, broken.values, broken.decision, source,
                               handover)

    def entries(self, ae_title: str | None = None) -> list[QuarantineEntry]:
        """Every quarantined file, oldest first."""
        with self._uow.read() as repo:
            return repo.image_rules.entries(ae_title)

    def entry(self, pk: int) -> QuarantineEntry:
        """One quarantined file; NotFound if there is no such ID."""
        with self._uow.read() as repo:
            found = repo.image_rules.entry(pk)
        if found is None:
            raise NotFound(f"no quarantined file has ID {pk}")
        return found

    def file_path(self, entry: QuarantineEntry) -> Path:
        """Where a readable copy of a quarantined file is (data path first)."""
        return self._store.path(entry.relpath)

    def retry(self, pks: Sequence[int] | None = None) -> list[RetryResult]:
        """Re-apply the current rules to the given files (all when None); those that keep to
        them are ingested and leave the quarantine."""
        entries = self.entries() if pks is None else [self.entry(pk) for pk in pks]
        return [self._retry(entry) for entry in entries]

    def delete(self, pk: int) -> QuarantineEntry:
        """Delete a quarantined file for good (index row first, then its copies)."""
        entry = self.entry(pk)
        with self._uow.write() as repo:
            repo.image_rules.remove_entry(pk)
        self._store.remove(entry.relpath)
        log.warning("deleted quarantined file #%d (%s, %d bytes, sha256 %s) from %s: %s", pk,
                    entry.original_name, entry.size, entry.checksum, entry.ae_title or "-",
                    entry.reason)
        return entry

    def _retry(self, entry: QuarantineEntry) -> RetryResult:
        decision = self._rules.apply(entry.ae_title, entry.values, fresh=True)
        if not decision.accepted:
            self._record(entry, decision, "")
            return RetryResult(entry, RetryOutcome.STILL_BREAKS_RULES, decision.violation or "",
                               decision)
        try:
            result = self._ingest.ingest_file(self._store.path(entry.relpath),
                                              source=entry.source or f"quarantine:{entry.pk}",
                                              sender=entry.ae_title or None, quarantine=False)
        except SlidepacsError as exc:
            self._record(entry, decision, str(exc))
            log.warning("quarantined file #%d keeps to the rules now but ingest failed: %s",
                        entry.pk, exc)
            return RetryResult(entry, RetryOutcome.INGEST_FAILED, str(exc), decision)
        with self._uow.write() as repo:  # only after ingest committed the file
            repo.image_rules.remove_entry(entry.pk)
        self._store.remove(entry.relpath)
        log.info("quarantined file #%d ingested as %s (%s) and left the quarantine", entry.pk,
                 result.sop_instance_uid, result.outcome.value)
        return RetryResult(entry, RetryOutcome.INGESTED, result.outcome.value, decision, result)

    def _record(self, entry: QuarantineEntry, decision: RuleDecision, error: str) -> None:
        with self._uow.write() as repo:
            repo.image_rules.record_attempt(entry.pk, decision.violation or entry.reason,
                                            decision.rules_version, error, _now())


def _relpath(path: Path, now: datetime) -> str:
    """``quarantine/<YYYYMMDD>/<random>[.<ext>].quarantined``: never a name from the sender
    (the original name is kept in the index), never ``.dcm`` (not a stored object)."""
    extension = path.suffix if _EXTENSION.match(path.suffix) else ""
    return f"{FOLDER}/{now:%Y%m%d}/{uuid.uuid4().hex}{extension.lower()}{SUFFIX}"


def _now() -> datetime:
    return datetime.now(timezone.utc)
