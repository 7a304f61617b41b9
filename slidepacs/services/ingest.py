"""The one ingest path: every entry point (import, C-STORE, STOW-RS, scanners) calls it.

For each object: read the header (never the pixel data), stage the bytes durably in every
storage location while hashing them, then in one index transaction apply the duplicate
policy, publish the files under their final names and index them; publish an
``InstanceStored`` event only after the commit. Nothing is acknowledged before it is both
on disk everywhere and in the index.
"""

from __future__ import annotations

import itertools
import logging
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from enum import Enum
from pathlib import Path
from typing import Any

from slidepacs.config import DuplicatePolicy
from slidepacs.dicom.header import ParsedFile, read_header
from slidepacs.domain.events import InstanceStored
from slidepacs.domain.records import InstanceHeader, InstanceRecord, SopReference
from slidepacs.errors import Conflict, Mismatch, SlidepacsError
from slidepacs.index.repository import (
    ExistingInstance,
    IndexRepository,
    NewInstance,
    StoredFile,
)
from slidepacs.index.unit_of_work import UnitOfWork
from slidepacs.services.events import EventBus
from slidepacs.services.slide_gate import RuleBroken, SlideGate
from slidepacs.storage import BlobStore, StagedFile, instance_relpath

log = logging.getLogger(__name__)


class Outcome(str, Enum):
    """What ingest did with one object."""

    STORED = "stored"
    DUPLICATE = "duplicate"        # same UID, same bytes: already stored, nothing changed
    NEW_VERSION = "new_version"    # same UID, other bytes, policy keeps a new version
    QUARANTINED = "quarantined"    # a slide that breaks its sender's image rules: kept aside


@dataclass(frozen=True, slots=True)
class IngestResult:
    """The result of ingesting one object."""

    outcome: Outcome
    sop_instance_uid: str
    study_instance_uid: str
    relpath: str
    size: int
    version: int
    quarantine_id: int | None = None
    series_instance_uid: str = ""
    sop_class_uid: str = ""


# Keeps a file whose slide broke its sender's rules: (path, why, source, handover) -> its ID.
QuarantineKeeper = Callable[[Path, RuleBroken, str, bool], int]


@dataclass(frozen=True, slots=True)
class IngestFailure:
    """Why one object of a batch was not ingested (nothing of it was stored)."""

    path: Path
    error: SlidepacsError
    sop_instance_uid: str = ""  # known when the object's header could be read
    sop_class_uid: str = ""


@dataclass(frozen=True, slots=True)
class ReceivedObject:
    """A received file prepared by :meth:`IngestService.prepare_received`, to be committed
    or discarded."""

    path: Path
    ready: _Ready


@dataclass(frozen=True, slots=True)
class _Prepared:
    path: Path
    header: InstanceHeader
    staged: StagedFile
    sender: str = ""
    frame_map: bytes | None = None  # packed: where each frame lies in the stored file


_Ready = _Prepared | IngestResult | SlidepacsError  # a prepared file, quarantined, or refused


class IngestService:
    """Stores and indexes DICOM objects given as files."""

    def __init__(
        self,
        unit_of_work: UnitOfWork,
        store: BlobStore,
        bus: EventBus,
        duplicate_policy: DuplicatePolicy,
        default_charset: str,
    ) -> None:
        self._uow = unit_of_work
        self._store = store
        self._bus = bus
        self._policy = duplicate_policy
        self._charset = default_charset
        self._location_names = [str(p) for p in store.locations]
        self._location_pks: list[int] = []  # known once a write transaction has committed
        self._gate: SlideGate | None = None
        self._keep: QuarantineKeeper | None = None

    def use_slide_gate(self, gate: SlideGate, keep: QuarantineKeeper) -> None:
        """Apply senders' image rules to the whole slides they store: a slide that keeps to
        them is indexed with the IDs they derive, one that breaks them is given to ``keep``
        (the quarantine) instead of being stored."""
        self._gate, self._keep = gate, keep

    def ingest_file(self, path: Path, source: str = "", sender: str | None = None,
                    quarantine: bool = True) -> IngestResult:
        """Ingest one file; raise InvalidInput, Conflict or StorageFailure if it is refused.
        ``sender``: the AE whose image rules apply to a whole slide (none: no rules); a
        slide that breaks them is quarantined, or with ``quarantine`` off raises RuleBroken."""
        prepared = self._prepare_or_keep(path, source, sender, quarantine=quarantine)
        if isinstance(prepared, IngestResult):
            return prepared
        result = self._commit_alone(prepared, source)
        if isinstance(result, IngestFailure):
            raise result.error
        return result

    def incoming_path(self) -> Path:
        """Where a front may write an object it is receiving, for :meth:`ingest_received`
        (in the first storage location, so that storing it needs no copy)."""
        return self._store.incoming_path()

    def incoming_file(self) -> Path:
        """As :meth:`incoming_path`, with the file already made (empty): a receiver only
        opens it (making files is slow on some file systems; they are made ahead)."""
        return self._store.incoming_file()

    def ingest_received(
        self, path: Path, source: str = "", checksum: str | None = None,
        durable: Callable[[], None] | None = None, expected: SopReference | None = None,
        sender: str | None = None, content: memoryview | None = None,
    ) -> IngestResult:
        """Ingest a received file the caller hands over: a Part 10 file from
        :meth:`incoming_path` is moved into storage instead of copied.

        ``checksum``, if the front hashed it while receiving, saves reading it again;
        ``durable``, if the front syncs the file itself, blocks until its data are on disk
        (called just before the index commit); ``content``, the file's bytes if the front
        holds them too, saves reading its header back; ``expected``, what the sender said it
        sends: Mismatch if the data set names another SOP class or instance. The caller must
        not use ``path`` afterwards; it is gone or will be removed. Raises as
        :meth:`ingest_file`; ``sender`` as there."""
        prepared = self._prepare_or_keep(path, source, sender, handover=True, checksum=checksum,
                                         durable=durable, expected=expected, content=content)
        if isinstance(prepared, IngestResult):
            return prepared
        result = self._commit_alone(prepared, source)
        if isinstance(result, IngestFailure):
            raise result.error
        return result

    def prepare_received(
        self, path: Path, checksum: str | None = None, content: memoryview | None = None,
        study: str | None = None, source: str = "",
    ) -> ReceivedObject:
        """The first half of ingesting a received file the caller hands over, done as soon as
        it is received: read its header (from ``content``, its bytes, if the front holds
        them; not kept after this returns) and take the file over. Nothing is indexed or
        visible until :meth:`commit_received`; a refusal is kept for that call to report.
        ``checksum`` as for :meth:`ingest_received`; with ``study``, an instance of another
        study is refused (Mismatch)."""
        return ReceivedObject(path, self._try_prepare(
            path, source, None, handover=True, checksum=checksum, content=content, study=study))

    def commit_received(
        self, received: Sequence[ReceivedObject], source: str = ""
    ) -> list[IngestResult | IngestFailure]:
        """Index prepared received objects in one transaction and publish their files: one
        result per object, in order. The caller removes a refused object's path if it is
        still there (it is when the object was refused before it was taken over)."""
        return self._commit_batch([(item.path, item.ready) for item in received], source)

    def discard_received(self, received: Iterable[ReceivedObject]) -> None:
        """Drop prepared objects that will not be committed (their taken-over files too)."""
        for item in received:
            if isinstance(item.ready, _Prepared):
                self._store.discard(item.ready.staged)

    def ingest_batch(
        self, paths: Sequence[Path], source: str = "", sender: str | None = None
    ) -> list[IngestResult | IngestFailure]:
        """Ingest several files in one index transaction (one result per path, in order).

        A refused file does not affect the others; if the shared transaction fails, the
        files are retried one by one so that each gets its own result.
        """
        return self._commit_batch(
            [(path, self._try_prepare(path, source, sender)) for path in paths], source)

    def ingest_stream(
        self,
        paths: Iterable[Path],
        source: str = "",
        batch_size: int = 32,
        workers: int = 4,
        sender: str | None = None,
    ) -> Iterator[tuple[Path, IngestResult | IngestFailure]]:
        """Ingest many files, yielding each path's result in order.

        Headers are read and files staged (written and fsynced) by ``workers`` threads while
        the calling thread commits finished batches, so disk waits overlap parsing.
        """
        window = max(batch_size * 2, workers)
        with ThreadPoolExecutor(workers, thread_name_prefix="ingest") as pool:
            pending: deque[tuple[Path, Future[_Ready]]] = deque()
            iterator = iter(paths)
            for path in itertools.islice(iterator, window):
                pending.append((path, pool.submit(self._try_prepare, path, source, sender)))
            while pending:
                batch = [pending.popleft() for _ in range(min(batch_size, len(pending)))]
                for path in itertools.islice(iterator, len(batch)):
                    pending.append((path, pool.submit(self._try_prepare, path, source, sender)))
                done = [(path, future.result()) for path, future in batch]
                yield from zip([path for path, _ in done], self._commit_batch(done, source))

    def _try_prepare(self, path: Path, source: str, sender: str | None,
                     **received: Any) -> _Ready:
        try:
            return self._prepare_or_keep(path, source, sender, **received)
        except SlidepacsError as exc:
            return exc

    def _prepare_or_keep(
        self, path: Path, source: str, sender: str | None, handover: bool = False,
        quarantine: bool = True, **received: Any,
    ) -> _Prepared | IngestResult:
        """Prepare a file for the index, or quarantine it if its slide breaks the rules."""
        try:
            return self._prepare(path, handover=handover, sender=sender, **received)
        except RuleBroken as broken:
            if self._keep is None or not quarantine:
                raise
            size = path.stat().st_size
            pk = self._keep(path, broken, source, handover)
            instance = broken.header.instance
            return IngestResult(Outcome.QUARANTINED, instance.sop_instance_uid,
                                broken.header.study.study_instance_uid, "", size, 0, pk)

    def _commit_batch(
        self, items: Sequence[tuple[Path, _Ready]], source: str
    ) -> list[IngestResult | IngestFailure]:
        ready = [item for _, item in items if isinstance(item, _Prepared)]
        try:
            committed = iter(self._commit(ready, source))
        except _CommitFailed as failure:
            # The files were already published when the commit failed: they stay as
            # unindexed files (replaced when the objects are sent again); retrying alone
            # would fail the same way, so every object of the batch is reported failed.
            self._discard_all(ready)
            committed = iter([_failure(p, failure.error) for p in ready])
        except SlidepacsError:
            committed = iter([self._commit_alone(p, source) for p in ready])
        return [
            next(committed) if isinstance(item, _Prepared)
            else item if isinstance(item, IngestResult) else IngestFailure(path, item)
            for path, item in items
        ]

    def _commit_alone(self, prepared: _Prepared, source: str) -> IngestResult | IngestFailure:
        try:
            return self._commit([prepared], source)[0]
        except SlidepacsError as exc:
            self._store.discard(prepared.staged)
            return _failure(prepared, exc.error if isinstance(exc, _CommitFailed) else exc)

    def _prepare(
        self, path: Path, handover: bool = False, checksum: str | None = None,
        durable: Callable[[], None] | None = None, expected: SopReference | None = None,
        sender: str | None = None, content: memoryview | None = None, study: str | None = None,
    ) -> _Prepared:
        parsed: ParsedFile = read_header(path, self._charset, content)
        header = parsed.header
        if expected is not None:
            _check_expected(header.instance, expected)
        if study is not None and header.study.study_instance_uid != study:
            raise Mismatch(f"instance belongs to study {header.study.study_instance_uid!r}, "
                           f"not to {study}")
        if sender is not None and self._gate is not None:
            header = self._gate.admit(sender, header, path)
        relpath = instance_relpath(
            header.study.study_instance_uid,
            header.series.series_instance_uid,
            header.instance.sop_instance_uid,
        )
        if handover and not parsed.prefix and parsed.dataset_offset == 0:
            staged = self._store.adopt(path, relpath, checksum, durable)
        else:
            staged = self._store.stage(path, relpath, parsed.prefix, parsed.dataset_offset)
        return _Prepared(path, header, staged, sender or "", parsed.frame_map)

    def _commit(
        self, batch: Sequence[_Prepared], source: str
    ) -> list[IngestResult | IngestFailure]:
        """Index a batch and publish its files in one transaction; on error nothing stays."""
        to_publish: list[StagedFile] = []
        try:
            results = self._index_and_publish(batch, source, to_publish)
        except SlidepacsError as exc:
            if to_publish and all(not t.exists() for s in to_publish for t in s.temporaries):
                self._remove_unindexed(to_publish)
                raise _CommitFailed(exc) from exc
            raise
        published_files = {s.temporaries for s in to_publish}
        for prepared, result in zip(batch, results, strict=True):
            if prepared.staged.temporaries not in published_files:
                self._store.discard(prepared.staged)
            if isinstance(result, IngestResult) and result.outcome is not Outcome.DUPLICATE:
                self._announce(prepared, result, source)
        return results

    def _index_and_publish(
        self, batch: Sequence[_Prepared], source: str, to_publish: list[StagedFile]
    ) -> list[IngestResult | IngestFailure]:
        with self._uow.write() as repo:
            uids = [p.header.instance.sop_instance_uid for p in batch]
            repo.lock_instances(uids)
            location_pks = self._location_pks or repo.location_pks(self._location_names)
            known = repo.find_instances_by_uid(uids)
            new: dict[str, NewInstance] = {}
            results = [self._apply(repo, p, source, known, new, to_publish) for p in batch]
            # renamed now, their folders fsynced while the rows are written; durable before
            # the commit, and back under their temporary names if anything fails before it
            pending = self._store.begin_publish(to_publish)
            try:
                repo.add_instances(list(new.values()), source, location_pks)
                repo.flush()
                pending.wait()
            except BaseException:
                pending.undo()
                raise
        self._location_pks = location_pks
        return results

    def _remove_unindexed(self, published: Sequence[StagedFile]) -> None:
        """After a failed commit, remove the published files the index does not reference
        (their objects were not stored); keep them all if the index cannot be read."""
        relpaths = [staged.relpath for staged in published]
        try:
            with self._uow.read() as repo:
                referenced = repo.referenced_relpaths(relpaths)
        except SlidepacsError as exc:
            log.warning("index unreadable after a failed commit; keeping %d file(s): %s",
                        len(relpaths), exc)
            return
        for relpath in relpaths:
            if relpath not in referenced:
                self._store.remove(relpath)

    def _discard_all(self, batch: Sequence[_Prepared]) -> None:
        for prepared in batch:
            self._store.discard(prepared.staged)

    def _apply(
        self,
        repo: IndexRepository,
        prepared: _Prepared,
        source: str,
        known: dict[str, ExistingInstance],
        new: dict[str, NewInstance],
        to_publish: list[StagedFile],
    ) -> IngestResult | IngestFailure:
        """Apply the duplicate policy to one object; queue it for indexing and publishing."""
        header, staged = prepared.header, prepared.staged
        uid = header.instance.sop_instance_uid
        study_uid = header.study.study_instance_uid
        uids = {"series_instance_uid": header.series.series_instance_uid,
                "sop_class_uid": header.instance.sop_class_uid}
        existing = known.get(uid) or _pending(new.get(uid))
        if existing is None:
            new[uid] = NewInstance(header, _stored(staged), prepared.frame_map)
            to_publish.append(staged)
            return IngestResult(Outcome.STORED, uid, study_uid, staged.relpath, staged.size, 1,
                                **uids)
        if existing.file.checksum == staged.checksum:
            return IngestResult(Outcome.DUPLICATE, uid, study_uid, existing.file.relpath,
                                existing.file.size, existing.version, **uids)
        if self._policy is DuplicatePolicy.REJECT or uid in new:
            return _failure(prepared, Conflict(
                f"SOP Instance UID {uid} is already stored with different content "
                "(duplicate policy: reject)"
            ))
        relpath = instance_relpath(
            study_uid, header.series.series_instance_uid, uid, existing.version + 1
        )
        versioned = replace(staged, relpath=relpath)
        version = repo.replace_instance_file(existing, header, _stored(versioned), source,
                                             prepared.frame_map)
        known[uid] = ExistingInstance(existing.pk, uid, version, _stored(versioned))
        to_publish.append(versioned)
        return IngestResult(Outcome.NEW_VERSION, uid, study_uid, relpath, staged.size, version,
                            **uids)

    def _announce(self, prepared: _Prepared, result: IngestResult, source: str) -> None:
        header = prepared.header
        self._bus.publish(InstanceStored(
            sop_instance_uid=result.sop_instance_uid,
            sop_class_uid=header.instance.sop_class_uid,
            study_instance_uid=result.study_instance_uid,
            series_instance_uid=header.series.series_instance_uid,
            patient_id=header.patient.patient_id,
            modality=header.series.modality,
            path=self._store.path(result.relpath),
            size=result.size,
            version=result.version,
            source=source,
            sender=prepared.sender,
        ))


def _failure(prepared: _Prepared, error: SlidepacsError) -> IngestFailure:
    instance = prepared.header.instance
    return IngestFailure(prepared.path, error, instance.sop_instance_uid, instance.sop_class_uid)


def _check_expected(instance: InstanceRecord, expected: SopReference) -> None:
    for what, in_data_set, said in (
        ("SOP Class UID", instance.sop_class_uid, expected.sop_class_uid),
        ("SOP Instance UID", instance.sop_instance_uid, expected.sop_instance_uid),
    ):
        if in_data_set != said:
            raise Mismatch(f"data set's {what} differs from the request's: {in_data_set!r} "
                           f"in the data set, {said!r} in the request")


def _stored(staged: StagedFile) -> StoredFile:
    return StoredFile(staged.relpath, staged.size, staged.checksum)


class _CommitFailed(SlidepacsError):
    """The index commit failed after the batch's files were published."""

    def __init__(self, error: SlidepacsError) -> None:
        super().__init__(str(error))
        self.error = error


def _pending(item: NewInstance | None) -> ExistingInstance | None:
    """A not-yet-inserted instance of this batch, seen as already existing (version 1)."""
    if item is None:
        return None
    return ExistingInstance(0, item.header.instance.sop_instance_uid, 1, item.file)
