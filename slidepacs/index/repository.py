"""Reading and writing index rows. A repository never commits: its unit of work does."""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, String, and_, bindparam, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from slidepacs.domain.names import name_group_keys, name_key
from slidepacs.domain.query import Query
from slidepacs.domain.records import InstanceHeader, PatientRecord, SeriesRecord, StudyRecord
from slidepacs.index.accounts import AccountRepository, AuditRepository
from slidepacs.index.aes import AERepository
from slidepacs.index.direct import execute_direct
from slidepacs.index.forwarding import ForwardRepository
from slidepacs.index.frames import DELETE_FRAMES, INSERT_FRAMES, FrameRepository
from slidepacs.index.image_rules import ImageRulesRepository
from slidepacs.index.print_jobs import PrintJobRepository
from slidepacs.index.query_sql import instance_select
from slidepacs.index.scanner_events import ScannerEventRepository
from slidepacs.index.scanners import ScannerRepository
from slidepacs.index.study_list import StudyListRepository
from slidepacs.index.tables import (
    FileCopy,
    Instance,
    InstanceVersion,
    Patient,
    Series,
    StorageLocation,
    Study,
    utcnow,
)


@dataclass(frozen=True, slots=True)
class StoredFile:
    """Where and what an instance's file is, as the index records it."""

    relpath: str
    size: int
    checksum: str


@dataclass(frozen=True, slots=True)
class NewInstance:
    """An instance to index, with the file already staged for it and its packed frame map
    (None: the frames cannot be located without parsing the file)."""

    header: InstanceHeader
    file: StoredFile
    frame_map: bytes | None = None


@dataclass(frozen=True, slots=True)
class IndexedFile:
    """One file the index expects in every storage location."""

    sop_instance_uid: str
    relpath: str
    size: int
    checksum: str
    version: int
    current: bool


@dataclass(frozen=True, slots=True)
class ExistingInstance:
    """The current state of an already indexed instance."""

    pk: int
    sop_instance_uid: str
    version: int
    file: StoredFile


@dataclass(frozen=True, slots=True)
class IndexCounts:
    """How much the index holds."""

    patients: int
    studies: int
    series: int
    instances: int
    bytes: int
    old_versions: int


class IndexRepository:
    """Index queries and updates on one session (the caller owns the transaction)."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._bound: Connection | None = None
        self.aes = AERepository(session)
        self.accounts = AccountRepository(session)
        self.audit = AuditRepository(session)
        self.forwarding = ForwardRepository(session)
        self.frames = FrameRepository(session)
        self.image_rules = ImageRulesRepository(session)
        self.study_list = StudyListRepository(session)
        self.print_jobs = PrintJobRepository(session)
        self.scanners = ScannerRepository(session)
        self.scanner_events = ScannerEventRepository(session)

    # -- instances ---------------------------------------------------------------------------
    def lock_instances(self, sop_instance_uids: Sequence[str]) -> None:
        """Serialise concurrent writers of the same SOP Instance UIDs until the transaction ends.

        PostgreSQL takes transaction-scoped advisory locks (sorted, so two batches cannot
        deadlock); SQLite needs nothing more, as a write transaction holds the database lock.
        """
        if self.session.bind.dialect.name != "postgresql":
            return
        for key in sorted({_lock_key(uid) for uid in sop_instance_uids}):
            self.session.execute(select(func.pg_advisory_xact_lock(key)))

    def flush(self) -> None:
        """Send pending changes to the database (constraint errors surface here)."""
        self.session.flush()

    def find_instances_by_uid(self, sop_instance_uids: Sequence[str]) -> dict[str, ExistingInstance]:
        """The indexed instances among these SOP Instance UIDs, by UID."""
        uids = list(set(sop_instance_uids))
        connection = self._connection()
        rows = (execute_direct(connection, _INSTANCE_BY_UID, {"uid": uids[0]}).fetchall()
                if len(uids) == 1 else connection.execute(_INSTANCES_BY_UID, {"uids": uids}))
        return {
            row[1]: ExistingInstance(row[0], row[1], row[2], StoredFile(row[3], row[4], row[5]))
            for row in rows
        }

    def referenced_relpaths(self, relpaths: Sequence[str]) -> set[str]:
        """Those of ``relpaths`` that are an instance's current or kept old file."""
        wanted = set(relpaths)
        current = select(Instance.relpath).where(Instance.relpath.in_(wanted))
        old = select(InstanceVersion.relpath).where(InstanceVersion.relpath.in_(wanted))
        return set(self.session.scalars(current.union(old)))

    def series_slide_values(self, series_instance_uid: str) -> tuple[str, str]:
        """(barcode, scanner) already indexed for a slide's series ("" when none): a level
        sent without a barcode takes its label's."""
        row = self.session.execute(
            select(Instance.barcode, Instance.scanner)
            .join(Series, Series.pk == Instance.series_pk)
            .where(Series.series_instance_uid == series_instance_uid, Instance.barcode != "")
            .limit(1)
        ).first()
        return (row.barcode, row.scanner) if row else ("", "")

    def find_instance(self, sop_instance_uid: str) -> ExistingInstance | None:
        """The indexed instance with this SOP Instance UID, if any."""
        return self.find_instances_by_uid([sop_instance_uid]).get(sop_instance_uid)

    def add_instances(
        self, items: Sequence[NewInstance], source: str, location_pks: Sequence[int]
    ) -> None:
        """Index new instances, creating or updating their patients, studies and series.

        One upsert per distinct patient, study and series, one multi-row insert of the
        instances and their copies, then the affected counters are recomputed.
        """
        if not items:
            return
        series_pks = self._hierarchy([item.header for item in items])
        rows = [
            {**_instance_values(item.header), "series_pk": series_pks[_series_uid(item)][0],
             "relpath": item.file.relpath, "file_size": item.file.size,
             "checksum": item.file.checksum, "version": 1, "source": source,
             "received_at": utcnow()}
            for item in items
        ]
        connection = self._connection()
        keys = tuple(rows[0])
        instance_pks = [
            execute_direct(connection, _INSERT_INSTANCE, row, keys).fetchone()[0] for row in rows
        ]
        execute_direct(connection, _INSERT_COPIES, [
            {"instance_pk": pk, "location_pk": loc} for pk in instance_pks for loc in location_pks
        ], _COPY_KEYS)
        execute_direct(connection, INSERT_FRAMES, [
            {"instance_pk": pk, "frame_map": item.frame_map}
            for pk, item in zip(instance_pks, items, strict=True)
        ], _FRAME_KEYS)
        self._refresh_counters(set(series_pks.values()))

    def replace_instance_file(
        self, existing: ExistingInstance, header: InstanceHeader, file: StoredFile, source: str,
        frame_map: bytes | None = None,
    ) -> int:
        """Make ``file`` the current version of an instance, keeping the old one on record;
        ``frame_map`` (packed) replaces the old file's."""
        row = self.session.get_one(Instance, existing.pk)
        self.session.add(InstanceVersion(
            instance_pk=row.pk, version=row.version, relpath=row.relpath,
            file_size=row.file_size, checksum=row.checksum, received_at=row.received_at,
        ))
        old = (row.series_pk, self.session.get_one(Series, row.series_pk).study_pk)
        [new] = self._hierarchy([header]).values()
        for key, value in _instance_values(header).items():
            setattr(row, key, value)
        row.series_pk = new[0]
        row.relpath, row.file_size, row.checksum = file.relpath, file.size, file.checksum
        row.version, row.source, row.received_at = row.version + 1, source, utcnow()
        self.session.flush()
        connection = self._connection()
        connection.execute(DELETE_FRAMES, {"pk": row.pk})
        connection.execute(INSERT_FRAMES, {"instance_pk": row.pk, "frame_map": frame_map})
        self._refresh_counters({old, new})
        return row.version

    def _hierarchy(self, headers: Sequence[InstanceHeader]) -> dict[str, tuple[int, int]]:
        """Upsert each distinct patient, study and series once; series UID → (series, study) pk."""
        patients: dict[tuple[str, str], int] = {}
        studies: dict[str, int] = {}
        result: dict[str, tuple[int, int]] = {}
        for header in headers:
            patient_key = (header.patient.patient_id, header.patient.issuer_of_patient_id)
            if patient_key not in patients:
                patients[patient_key] = self._upsert_patient(header.patient)
            study_uid = header.study.study_instance_uid
            if study_uid not in studies:
                studies[study_uid] = self._upsert_study(
                    patients[patient_key], header.study, header.instance.slide.case_id
                )
            series_uid = header.series.series_instance_uid
            if series_uid not in result:
                result[series_uid] = (
                    self._upsert_series(studies[study_uid], header.series), studies[study_uid]
                )
        return result

    def _upsert_patient(self, record: PatientRecord) -> int:
        values = {
            "patient_id": record.patient_id, "issuer_of_patient_id": record.issuer_of_patient_id,
            "patient_name": record.patient_name,
            **dict(zip(_PATIENT_NAME_KEYS, name_group_keys(record.patient_name))),
            "birth_date": record.birth_date, "sex": record.sex, "comments": record.comments,
        }
        keys = ("patient_id", "issuer_of_patient_id")
        return self._upsert(Patient, values, keys)

    def _upsert_study(self, patient_pk: int, record: StudyRecord, case_id: str) -> int:
        values = {
            "patient_pk": patient_pk, "study_instance_uid": record.study_instance_uid,
            "study_date": record.study_date, "study_time": record.study_time,
            "accession_number": record.accession_number, "study_id": record.study_id,
            "description": record.description,
            "referring_physician_name": record.referring_physician_name,
            "referring_physician_name_key": name_key(record.referring_physician_name),
            "updated_at": utcnow(),
        }
        if case_id:
            values["case_id"] = case_id
        return self._upsert(Study, values, ("study_instance_uid",), keep=("patient_pk",))

    def _upsert_series(self, study_pk: int, record: SeriesRecord) -> int:
        values = {
            "study_pk": study_pk, "series_instance_uid": record.series_instance_uid,
            "modality": record.modality, "series_number": record.series_number,
            "series_date": record.series_date, "series_time": record.series_time,
            "description": record.description, "body_part_examined": record.body_part_examined,
        }
        return self._upsert(Series, values, ("series_instance_uid",), keep=("study_pk",))

    def _upsert(
        self, table: type, values: dict[str, object], keys: tuple[str, ...],
        keep: tuple[str, ...] = (),
    ) -> int:
        """Insert or update by natural key, race-free on SQLite and PostgreSQL.

        The newest object's attributes win (so a corrected re-send updates the index), except
        the ``keep`` columns: a study never silently moves to another patient.
        """
        statement = _upsert_statement(self.session.bind.dialect.name, table, tuple(values),
                                      keys, keep)
        row = execute_direct(self._connection(), statement, _fitted(table, values)).fetchone()
        return int(row[0])

    def _connection(self) -> Connection:
        """The transaction's connection, for precompiled Core statements (no ORM overhead on
        the ingest path: each instance costs a handful of statements)."""
        if self._bound is None:
            self._bound = self.session.connection()
        return self._bound

    def _refresh_counters(self, series_and_studies: set[tuple[int, int]]) -> None:
        """Recount instances per series and series/instances/modalities per study."""
        series_pks = sorted({series for series, _ in series_and_studies})
        study_pks = sorted({study for _, study in series_and_studies})
        connection = self._connection()
        execute_direct(connection, _COUNT_SERIES_INSTANCES, [{"series": pk} for pk in series_pks])
        execute_direct(connection, _COUNT_STUDY_SERIES, [{"study": pk} for pk in study_pks])
        execute_direct(connection, _SET_MODALITIES, [
            {"study": pk, "value": "\\".join(sorted(
                row[0] for row in execute_direct(connection, _STUDY_MODALITIES, {"study": pk})
            ))[:200]}
            for pk in study_pks
        ])

    # -- storage locations -------------------------------------------------------------------
    def location_pks(self, paths: Sequence[str]) -> list[int]:
        """Primary keys of storage locations, registering new ones."""
        dialect = postgresql if self.session.bind.dialect.name == "postgresql" else sqlite
        for path in paths:
            self.session.execute(
                dialect.insert(StorageLocation).values(path=path).on_conflict_do_nothing()
            )
        rows = self.session.execute(
            select(StorageLocation.path, StorageLocation.pk).where(StorageLocation.path.in_(paths))
        ).all()
        by_path = dict(rows)
        return [by_path[p] for p in paths]

    def record_copy(self, sop_instance_uid: str, location_pk: int) -> None:
        """Note that a location now holds a copy of the instance's current file."""
        instance_pk = self.session.scalar(
            select(Instance.pk).where(Instance.sop_instance_uid == sop_instance_uid)
        )
        if instance_pk is not None and self.session.get(
            FileCopy, (instance_pk, location_pk)
        ) is None:
            self.session.add(FileCopy(instance_pk=instance_pk, location_pk=location_pk))

    # -- reading -----------------------------------------------------------------------------
    def iter_files(self, batch: int = 1000) -> Iterator[IndexedFile]:
        """Every file the index references: current files and kept old versions."""
        current = select(Instance.sop_instance_uid, Instance.relpath, Instance.file_size,
                         Instance.checksum, Instance.version).order_by(Instance.pk)
        for row in self.session.execute(current.execution_options(yield_per=batch)):
            yield IndexedFile(row[0], row[1], row[2], row[3], row[4], True)
        old = (select(Instance.sop_instance_uid, InstanceVersion.relpath,
                      InstanceVersion.file_size, InstanceVersion.checksum,
                      InstanceVersion.version)
               .join(Instance, Instance.pk == InstanceVersion.instance_pk)
               .order_by(InstanceVersion.pk))
        for row in self.session.execute(old.execution_options(yield_per=batch)):
            yield IndexedFile(row[0], row[1], row[2], row[3], row[4], False)

    def find_instances(self, query: Query) -> list[Instance]:
        """Instances matching a query (any level's keys), ordered by study, series, number."""
        return list(self.session.scalars(instance_select(query)))

    def counts(self) -> IndexCounts:
        """Rows per level and bytes of current files."""
        scalar = self.session.scalar
        return IndexCounts(
            patients=scalar(select(func.count()).select_from(Patient)) or 0,
            studies=scalar(select(func.count()).select_from(Study)) or 0,
            series=scalar(select(func.count()).select_from(Series)) or 0,
            instances=scalar(select(func.count()).select_from(Instance)) or 0,
            bytes=int(scalar(select(func.coalesce(func.sum(Instance.file_size), 0))) or 0),
            old_versions=scalar(select(func.count()).select_from(InstanceVersion)) or 0,
        )


    def received_since(self, since: datetime) -> int:
        """How many current instances were received at or after ``since`` (indexed)."""
        return int(self.session.scalar(
            select(func.count()).select_from(Instance).where(Instance.received_at >= since)
        ) or 0)

    def instances_per_location(self) -> dict[str, int]:
        """How many instances each storage location holds a copy of, by its path."""
        rows = self.session.execute(
            select(StorageLocation.path, func.count(FileCopy.instance_pk))
            .outerjoin(FileCopy, FileCopy.location_pk == StorageLocation.pk)
            .group_by(StorageLocation.path))
        return {path: int(count) for path, count in rows}


def _series_uid(item: NewInstance) -> str:
    return item.header.series.series_instance_uid


def _instance_values(header: InstanceHeader) -> dict[str, object]:
    record = header.instance
    slide = record.slide
    return _fitted(Instance, {
        "sop_instance_uid": record.sop_instance_uid,
        "sop_class_uid": record.sop_class_uid,
        "transfer_syntax_uid": record.transfer_syntax_uid,
        "instance_number": record.instance_number,
        "image_type": record.image_type,
        "number_of_frames": record.number_of_frames,
        "rows": record.rows,
        "columns": record.columns,
        "specific_character_set": record.specific_character_set,
        "barcode": slide.barcode,
        "slide_id": slide.slide_id,
        "case_id": slide.case_id,
        "scanner": slide.scanner,
        "pyramid_level": slide.pyramid_level,
        "tile_width": slide.tile_width,
        "tile_height": slide.tile_height,
        "total_pixel_matrix_columns": slide.total_pixel_matrix_columns,
        "total_pixel_matrix_rows": slide.total_pixel_matrix_rows,
    })


# -- the ingest path's statements (run on the driver by execute_direct, compiled once) ---------
_INSTANCE = Instance.__table__
_SERIES = Series.__table__
_STUDY = Study.__table__
_INSTANCE_FILE = select(
    _INSTANCE.c.pk, _INSTANCE.c.sop_instance_uid, _INSTANCE.c.version, _INSTANCE.c.relpath,
    _INSTANCE.c.file_size, _INSTANCE.c.checksum,
)
_INSTANCES_BY_UID = _INSTANCE_FILE.where(
    _INSTANCE.c.sop_instance_uid.in_(bindparam("uids", expanding=True)))
_INSTANCE_BY_UID = _INSTANCE_FILE.where(_INSTANCE.c.sop_instance_uid == bindparam("uid"))
_INSERT_INSTANCE = insert(_INSTANCE).returning(_INSTANCE.c.pk)
_INSERT_COPIES = insert(FileCopy.__table__)
_COPY_KEYS = ("instance_pk", "location_pk")
_FRAME_KEYS = ("instance_pk", "frame_map")
_COUNT_SERIES_INSTANCES = (
    update(_SERIES).where(_SERIES.c.pk == bindparam("series"))
    .values(num_instances=select(func.count()).where(_INSTANCE.c.series_pk == _SERIES.c.pk)
            .scalar_subquery())
)
_LIVE_SERIES = and_(_SERIES.c.study_pk == _STUDY.c.pk, _SERIES.c.num_instances > 0)
_COUNT_STUDY_SERIES = (
    update(_STUDY).where(_STUDY.c.pk == bindparam("study")).values(
        num_series=select(func.count()).where(_LIVE_SERIES).scalar_subquery(),
        num_instances=select(func.coalesce(func.sum(_SERIES.c.num_instances), 0))
        .where(_LIVE_SERIES).scalar_subquery(),
    )
)
_STUDY_MODALITIES = (
    select(_SERIES.c.modality).distinct()
    .where(_SERIES.c.study_pk == bindparam("study"), _SERIES.c.num_instances > 0,
           _SERIES.c.modality != "")
)
_SET_MODALITIES = (
    update(_STUDY).where(_STUDY.c.pk == bindparam("study")).values(modalities=bindparam("value"))
)


@functools.cache
def _upsert_statement(
    dialect_name: str, table: type, columns: tuple[str, ...], keys: tuple[str, ...],
    keep: tuple[str, ...],
) -> Any:
    """INSERT … ON CONFLICT (keys) DO UPDATE … RETURNING pk, built once per column set.

    The newest object's attributes win (so a corrected re-send updates the index), except
    the ``keep`` columns: a study never silently moves to another patient.
    """
    dialect = postgresql if dialect_name == "postgresql" else sqlite
    target = table.__table__  # type: ignore[attr-defined]
    statement = dialect.insert(target).values({c: bindparam(c) for c in columns})
    changes = {c: statement.excluded[c] for c in columns if c not in keys and c not in keep}
    return statement.on_conflict_do_update(index_elements=list(keys), set_=changes).returning(
        target.c.pk)


_PATIENT_NAME_KEYS = (
    "patient_name_key", "patient_name_ideographic_key", "patient_name_phonetic_key"
)


def _lock_key(uid: str) -> int:
    digest = hashlib.blake2b(uid.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _fitted(table: type, values: dict[str, object]) -> dict[str, object]:
    """Cut over-long text to its column's length (the stored file keeps the full value)."""
    lengths = _text_lengths(table)
    return {key: value[:lengths[key]] if isinstance(value, str) and key in lengths else value
            for key, value in values.items()}


@functools.cache
def _text_lengths(table: type) -> dict[str, int]:
    """Each bounded text column's length."""
    columns = table.__table__.columns  # type: ignore[attr-defined]
    return {column.key: column.type.length for column in columns
            if isinstance(column.type, String) and column.type.length}
