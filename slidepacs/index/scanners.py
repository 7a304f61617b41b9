"""Rows of the scanner registry and of the image metadata scanners post.

Joining metadata to a slide: the slide's series has Series Number = the image ID, and its
whole-slide instances came from the scanner's calling AE title — recorded as the instances'
``source`` ``dicom:<AE>`` by the DICOM front (the same key the image rules are applied by).
"""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import String, cast, delete, exists, select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from slidepacs.dicom.header import WSI_SOP_CLASS
from slidepacs.domain.scanners import Destination, PostedMetadata, Scanner, SlideMetadata
from slidepacs.errors import Conflict
from slidepacs.index.tables import Instance, ScannerTable, Series, SlideMetadataTable, Study
from slidepacs.index.times import aware

Scanners = ScannerTable
Metadata = SlideMetadataTable
_CONTACT_FIELDS = ("state", "model", "serial", "software_version")


def dicom_source(ae_title: str) -> str:
    """The ``source`` the DICOM front records for instances an AE stores."""
    return f"dicom:{ae_title}"


class ScannerRepository:
    """Scanners and their posted metadata (the caller's unit of work commits)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    # -- registry ----------------------------------------------------------------------------
    def all(self) -> list[Scanner]:
        """Every registered scanner, by name."""
        return [_scanner(row) for row in
                self.session.scalars(select(Scanners).order_by(Scanners.name_key))]

    def get(self, name: str) -> Scanner | None:
        """The scanner of this name (any case), if any."""
        row = self._row(name)
        return _scanner(row) if row is not None else None

    def by_token(self, token_sha256: str) -> Scanner | None:
        """The scanner whose token has this digest, if any."""
        row = self.session.scalar(select(Scanners).where(Scanners.token_sha256 == token_sha256))
        return _scanner(row) if row is not None else None

    def by_ae_title(self, ae_title: str) -> Scanner | None:
        """The scanner that sends with this calling AE title, if any."""
        row = self._row_of_title(ae_title)
        return _scanner(row) if row is not None else None

    def add(self, scanner: Scanner, token_sha256: str, now: datetime) -> Scanner:
        """Register a scanner; Conflict if its name or AE title is taken."""
        for label, taken in (("name", self._row(scanner.name)),
                             ("AE title", self._row_of_title(scanner.ae_title))):
            if taken is not None:
                raise Conflict(f"{label}: {taken.name!r} is already registered with that "
                               f"{label}")
        row = Scanners(name=scanner.name, name_key=scanner.name.lower(),
                       ae_title=scanner.ae_title, model=scanner.model, serial=scanner.serial,
                       software_version="", token_sha256=token_sha256,
                       destination_host=scanner.destination.hostname,
                       destination_port=scanner.destination.port,
                       destination_ae=scanner.destination.title, settings_version=1, state="",
                       created_at=now, last_address="")
        self.session.add(row)
        self.session.flush()
        return _scanner(row)

    def remove(self, name: str) -> bool:
        """Unregister a scanner (its metadata goes with it); False if there was none."""
        row = self._row(name)
        if row is None:
            return False
        self.session.execute(delete(Metadata).where(Metadata.scanner_pk == row.pk))
        self.session.delete(row)
        return True

    def set_token(self, name: str, token_sha256: str) -> bool:
        """Replace a scanner's token; False if there is no such scanner."""
        row = self._row(name)
        if row is None:
            return False
        row.token_sha256 = token_sha256
        return True

    def set_destination(self, name: str, destination: Destination) -> int:
        """Change where a scanner sends slides; its settings version goes up. Returns the
        new version (0: no such scanner)."""
        row = self._row(name, lock=True)
        if row is None:
            return 0
        row.destination_host = destination.hostname
        row.destination_port = destination.port
        row.destination_ae = destination.title
        row.settings_version = (row.settings_version or 0) + 1
        return int(row.settings_version)

    def record_contact(self, pk: int, now: datetime, address: str,
                       skew: float | None = None, **reported: str | None) -> None:
        """A scanner was heard from: the time, its address and what it reported (fields
        that are None are kept)."""
        values: dict[str, object] = {"last_contact_at": now, "last_address": address[:64]}
        if skew is not None:
            values["clock_skew_seconds"] = skew
        values.update({name: value for name, value in reported.items()
                       if name in _CONTACT_FIELDS and value is not None})
        self.session.execute(update(Scanners).where(Scanners.pk == pk).values(**values),
                             execution_options={"synchronize_session": False})

    # -- metadata ----------------------------------------------------------------------------
    def save_metadata(self, scanner_pk: int, posted: PostedMetadata, now: datetime) -> int:
        """Create or replace a slide's metadata (not joined until :meth:`join`)."""
        row = self.session.scalar(select(Metadata).where(
            Metadata.scanner_pk == scanner_pk, Metadata.image_id == posted.image_id))
        if row is None:
            row = Metadata(scanner_pk=scanner_pk, image_id=posted.image_id)
            self.session.add(row)
        row.barcode, row.payload, row.received_at = posted.barcode, posted.payload, now
        row.study_instance_uid, row.series_instance_uid, row.joined_at = "", "", None
        self.session.flush()
        return int(row.pk)

    def slide_by_image_id(self, ae_title: str, image_id: str) -> tuple[str, str] | None:
        """(study, series) UIDs of the slide with this image ID (Series Number) whose
        whole-slide instances came from ``ae_title``, if it is indexed."""
        came_from_scanner = exists().where(
            Instance.series_pk == Series.pk, Instance.sop_class_uid == WSI_SOP_CLASS,
            Instance.source == dicom_source(ae_title))
        row = self.session.execute(
            select(Study.study_instance_uid, Series.series_instance_uid)
            .join(Study, Study.pk == Series.study_pk)
            .where(cast(Series.series_number, String) == image_id, came_from_scanner)
            .order_by(Series.pk.desc()).limit(1)).first()
        return (row[0], row[1]) if row else None

    def slide_by_barcode(self, barcode: str) -> tuple[str, str] | None:
        """(study, series) UIDs of the newest slide with this barcode, if any."""
        if not barcode:
            return None
        row = self.session.execute(
            select(Study.study_instance_uid, Series.series_instance_uid).select_from(Instance)
            .join(Series, Series.pk == Instance.series_pk)
            .join(Study, Study.pk == Series.study_pk)
            .where(Instance.barcode == barcode, Instance.sop_class_uid == WSI_SOP_CLASS)
            .order_by(Instance.pk.desc()).limit(1)).first()
        return (row[0], row[1]) if row else None

    def join(self, pk: int, study_uid: str, series_uid: str, now: datetime) -> None:
        """Join one metadata row to its slide."""
        self.session.execute(
            update(Metadata).where(Metadata.pk == pk).values(
                study_instance_uid=study_uid, series_instance_uid=series_uid, joined_at=now),
            execution_options={"synchronize_session": False})

    def join_waiting(self, ae_title: str, study_uid: str, series_uid: str,
                     now: datetime) -> int:
        """Join the metadata waiting for this slide (posted by the scanner of ``ae_title``
        with the series' Series Number as image ID), in one statement; how many rows."""
        result = self.session.execute(
            update(Metadata).where(*_waiting_for(ae_title, series_uid))
            .values(study_instance_uid=study_uid, series_instance_uid=series_uid,
                    joined_at=now),
            execution_options={"synchronize_session": False})
        return int(result.rowcount or 0)

    def waiting(self, ae_title: str, series_uid: str) -> bool:
        """Does metadata of the scanner of ``ae_title`` wait for this slide?"""
        return self.session.scalar(
            select(Metadata.pk).where(*_waiting_for(ae_title, series_uid)).limit(1)) is not None

    def metadata_of_series(self, series_uid: str) -> list[SlideMetadata]:
        """The metadata joined to a slide's series."""
        rows = self.session.execute(
            select(Metadata, Scanners.name).join(Scanners, Scanners.pk == Metadata.scanner_pk)
            .where(Metadata.series_instance_uid == series_uid).order_by(Metadata.pk))
        return [_metadata(row[0], row[1]) for row in rows]

    def metadata(self, scanner_pk: int, image_id: str) -> SlideMetadata | None:
        """One scanner's metadata of one image ID."""
        row = self.session.execute(
            select(Metadata, Scanners.name).join(Scanners, Scanners.pk == Metadata.scanner_pk)
            .where(Metadata.scanner_pk == scanner_pk, Metadata.image_id == image_id)).first()
        return _metadata(row[0], row[1]) if row else None

    def _row_of_title(self, ae_title: str) -> Scanners | None:
        return self.session.scalar(select(Scanners).where(Scanners.ae_title == ae_title))

    def _row(self, name: str, lock: bool = False) -> ScannerTable | None:
        query = select(Scanners).where(Scanners.name_key == name.strip().lower())
        return self.session.scalar(query.with_for_update() if lock else query)


def _scanner(row: ScannerTable) -> Scanner:
    return Scanner(
        row.name, row.ae_title, row.model, row.serial, row.software_version,
        Destination(row.destination_host, row.destination_port, row.destination_ae),
        row.settings_version, row.state, aware(row.created_at), aware(row.last_contact_at),
        row.last_address, row.clock_skew_seconds, row.pk)


def _metadata(row: SlideMetadataTable, scanner: str) -> SlideMetadata:
    return SlideMetadata(scanner, row.image_id, row.barcode, aware(row.received_at)
                         or row.received_at, json.loads(row.payload or "{}"),
                         row.study_instance_uid, row.series_instance_uid)


def _waiting_for(ae_title: str, series_uid: str) -> tuple[ColumnElement[bool], ...]:
    """Metadata not joined yet, posted by the scanner of ``ae_title`` with the series'
    Series Number as image ID."""
    scanner = select(Scanners.pk).where(Scanners.ae_title == ae_title).scalar_subquery()
    number = (select(cast(Series.series_number, String))
              .where(Series.series_instance_uid == series_uid).scalar_subquery())
    return (Metadata.scanner_pk == scanner, Metadata.image_id == number,
            Metadata.series_instance_uid == "")
