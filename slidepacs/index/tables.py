"""Index tables: Patient → Study → Series → Instance, plus file copies, old versions and
frame maps.

Study and series rows carry denormalised counts and the modalities in the study, so that
study- and series-level queries never touch the instance table. Every column that a C-FIND
or QIDO-RS query filters on has an index; person names also have a normalised ``*_key``
column for case-insensitive search.
"""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    """Timezone-aware current time in UTC."""
    return datetime.now(timezone.utc)


class Base(DeclarativeBase):
    """Declarative base of every index table."""


class Patient(Base):
    __tablename__ = "patients"
    __table_args__ = (
        UniqueConstraint("patient_id", "issuer_of_patient_id", name="uq_patients_identity"),
        Index("ix_patients_patient_name_key", "patient_name_key",
              postgresql_ops={"patient_name_key": "varchar_pattern_ops"}),
        Index("ix_patients_patient_name_ideographic_key", "patient_name_ideographic_key",
              postgresql_ops={"patient_name_ideographic_key": "varchar_pattern_ops"}),
        Index("ix_patients_patient_name_phonetic_key", "patient_name_phonetic_key",
              postgresql_ops={"patient_name_phonetic_key": "varchar_pattern_ops"}),
        Index("ix_patients_patient_id_pattern", "patient_id",
              postgresql_ops={"patient_id": "varchar_pattern_ops"}),
        Index("ix_patients_birth_date", "birth_date"),
    )

    pk: Mapped[int] = mapped_column(Integer, primary_key=True)
    patient_id: Mapped[str] = mapped_column(String(64), default="")
    issuer_of_patient_id: Mapped[str] = mapped_column(String(64), default="")
    patient_name: Mapped[str] = mapped_column(String(400), default="")
    patient_name_key: Mapped[str] = mapped_column(String(400), default="")
    patient_name_ideographic_key: Mapped[str] = mapped_column(String(400), default="")
    patient_name_phonetic_key: Mapped[str] = mapped_column(String(400), default="")
    birth_date: Mapped[str] = mapped_column(String(8), default="")
    sex: Mapped[str] = mapped_column(String(16), default="")
    comments: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    studies: Mapped[list[Study]] = relationship(back_populates="patient")


class Study(Base):
    __tablename__ = "studies"
    __table_args__ = (
        Index("ix_studies_patient_pk", "patient_pk"),
        Index("ix_studies_study_date", "study_date", "study_time"),
        Index("ix_studies_accession_number", "accession_number"),
        Index("ix_studies_study_id", "study_id"),
        Index("ix_studies_updated_at", "updated_at"),
        Index("ix_studies_case_id", "case_id"),
    )

    pk: Mapped[int] = mapped_column(Integer, primary_key=True)
    patient_pk: Mapped[int] = mapped_column(ForeignKey("patients.pk", ondelete="RESTRICT"))
    study_instance_uid: Mapped[str] = mapped_column(String(64), unique=True)
    study_date: Mapped[str] = mapped_column(String(8), default="")
    study_time: Mapped[str] = mapped_column(String(16), default="")
    accession_number: Mapped[str] = mapped_column(String(64), default="")
    study_id: Mapped[str] = mapped_column(String(16), default="")
    description: Mapped[str] = mapped_column(String(400), default="")
    referring_physician_name: Mapped[str] = mapped_column(String(400), default="")
    referring_physician_name_key: Mapped[str] = mapped_column(String(400), default="")
    case_id: Mapped[str] = mapped_column(String(64), default="")
    modalities: Mapped[str] = mapped_column(String(200), default="")
    num_series: Mapped[int] = mapped_column(Integer, default=0)
    num_instances: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    patient: Mapped[Patient] = relationship(back_populates="studies")
    series: Mapped[list[Series]] = relationship(back_populates="study")


class Series(Base):
    __tablename__ = "series"
    __table_args__ = (
        Index("ix_series_study_pk", "study_pk"),
        Index("ix_series_modality", "modality"),
        Index("ix_series_series_date", "series_date"),
    )

    pk: Mapped[int] = mapped_column(Integer, primary_key=True)
    study_pk: Mapped[int] = mapped_column(ForeignKey("studies.pk", ondelete="RESTRICT"))
    series_instance_uid: Mapped[str] = mapped_column(String(64), unique=True)
    modality: Mapped[str] = mapped_column(String(16), default="")
    series_number: Mapped[int | None] = mapped_column(Integer, nullable=True)
    series_date: Mapped[str] = mapped_column(String(8), default="")
    series_time: Mapped[str] = mapped_column(String(16), default="")
    description: Mapped[str] = mapped_column(String(400), default="")
    body_part_examined: Mapped[str] = mapped_column(String(64), default="")
    num_instances: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    study: Mapped[Study] = relationship(back_populates="series")
    instances: Mapped[list[Instance]] = relationship(back_populates="series")


class Instance(Base):
    __tablename__ = "instances"
    __table_args__ = (
        Index("ix_instances_series_pk", "series_pk", "instance_number"),
        Index("ix_instances_sop_class_uid", "sop_class_uid"),
        Index("ix_instances_barcode", "barcode"),
        Index("ix_instances_slide_id", "slide_id"),
        Index("ix_instances_case_id", "case_id"),
        Index("ix_instances_received_at", "received_at"),
    )

    pk: Mapped[int] = mapped_column(Integer, primary_key=True)
    series_pk: Mapped[int] = mapped_column(ForeignKey("series.pk", ondelete="RESTRICT"))
    sop_instance_uid: Mapped[str] = mapped_column(String(64), unique=True)
    sop_class_uid: Mapped[str] = mapped_column(String(64))
    transfer_syntax_uid: Mapped[str] = mapped_column(String(64))
    instance_number: Mapped[int | None] = mapped_column(Integer, nullable=True)
    image_type: Mapped[str] = mapped_column(String(200), default="")
    number_of_frames: Mapped[int | None] = mapped_column(Integer, nullable=True)
    rows: Mapped[int | None] = mapped_column(Integer, nullable=True)
    columns: Mapped[int | None] = mapped_column(Integer, nullable=True)
    specific_character_set: Mapped[str] = mapped_column(String(200), default="")
    barcode: Mapped[str] = mapped_column(String(200), default="")
    slide_id: Mapped[str] = mapped_column(String(64), default="")
    case_id: Mapped[str] = mapped_column(String(64), default="")
    scanner: Mapped[str] = mapped_column(String(64), default="")
    pyramid_level: Mapped[int | None] = mapped_column(Integer, nullable=True)
    tile_width: Mapped[int | None] = mapped_column(Integer, nullable=True)
    tile_height: Mapped[int | None] = mapped_column(Integer, nullable=True)
    total_pixel_matrix_columns: Mapped[int | None] = mapped_column(Integer, nullable=True)
    total_pixel_matrix_rows: Mapped[int | None] = mapped_column(Integer, nullable=True)
    relpath: Mapped[str] = mapped_column(String(300))
    file_size: Mapped[int] = mapped_column(BigInteger)
    checksum: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer, default=1)
    source: Mapped[str] = mapped_column(String(200), default="")
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    series: Mapped[Series] = relationship(back_populates="instances")


class InstanceVersion(Base):
    """A superseded file of an instance, kept when the duplicate policy keeps new versions."""

    __tablename__ = "instance_versions"
    __table_args__ = (UniqueConstraint("instance_pk", "version", name="uq_instance_versions"),)

    pk: Mapped[int] = mapped_column(Integer, primary_key=True)
    instance_pk: Mapped[int] = mapped_column(ForeignKey("instances.pk", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    relpath: Mapped[str] = mapped_column(String(300))
    file_size: Mapped[int] = mapped_column(BigInteger)
    checksum: Mapped[str] = mapped_column(String(64))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    superseded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class InstanceFrames(Base):
    """Where each frame of an instance's current file lies, packed
    (:class:`slidepacs.dicom.frames.FrameMap`); NULL when that cannot be told without
    parsing the frames. Written at ingest; instances indexed before have no row until their
    frames are first asked for."""

    __tablename__ = "instance_frames"

    instance_pk: Mapped[int] = mapped_column(
        ForeignKey("instances.pk", ondelete="CASCADE"), primary_key=True
    )
    frame_map: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)


class StorageLocation(Base):
    """A folder that holds copies of stored files (data path or backup path)."""

    __tablename__ = "storage_locations"

    pk: Mapped[int] = mapped_column(Integer, primary_key=True)
    path: Mapped[str] = mapped_column(String(1000), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class FileCopy(Base):
    """That a location holds a copy of an instance's current file."""

    __tablename__ = "file_copies"
    __table_args__ = (Index("ix_file_copies_location_pk", "location_pk"),)

    instance_pk: Mapped[int] = mapped_column(
        ForeignKey("instances.pk", ondelete="CASCADE"), primary_key=True
    )
    location_pk: Mapped[int] = mapped_column(
        ForeignKey("storage_locations.pk", ondelete="CASCADE"), primary_key=True
    )


class RemoteAETable(Base):
    """A registered remote Application Entity ("DICOM user")."""

    __tablename__ = "remote_aes"

    pk: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    ae_title: Mapped[str] = mapped_column(String(16), unique=True)
    host: Mapped[str] = mapped_column(String(253))
    port: Mapped[int] = mapped_column(Integer)
    auto_registered: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ForwardRuleTable(Base):
    """A forwarding rule added with ``slidepacs forward add`` (config rules are not stored)."""

    __tablename__ = "forward_rules"

    pk: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    destination: Mapped[str] = mapped_column(String(64))
    criteria: Mapped[str] = mapped_column(Text, default="{}")  # JSON: patterns per criterion
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ForwardJobTable(Base):
    """One instance to forward to one destination (a registered AE's title, or the name a
    rule gave when it was not registered), with its retry state."""

    __tablename__ = "forward_jobs"
    __table_args__ = (
        UniqueConstraint("instance_pk", "destination", name="uq_forward_jobs_instance_destination"),
        Index("ix_forward_jobs_due", "state", "next_attempt_at"),
        Index("ix_forward_jobs_destination", "destination", "state"),
    )

    pk: Mapped[int] = mapped_column(Integer, primary_key=True)
    instance_pk: Mapped[int] = mapped_column(ForeignKey("instances.pk", ondelete="CASCADE"))
    destination: Mapped[str] = mapped_column(String(64))
    rule: Mapped[str] = mapped_column(String(64), default="")
    state: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str] = mapped_column(Text, default="")
    claim: Mapped[str | None] = mapped_column(String(32), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ImageRuleTable(Base):
    """The image rules of one sending AE / scanner (SPEC §4 "Images"); regexes as typed."""

    __tablename__ = "image_rules"

    pk: Mapped[int] = mapped_column(Integer, primary_key=True)
    ae_title: Mapped[str] = mapped_column(String(16), unique=True)
    scanner: Mapped[str] = mapped_column(String(64), default="")
    barcode_regex: Mapped[str] = mapped_column(Text, default="")
    modifier_regex: Mapped[str] = mapped_column(Text, default="")
    modifier_format: Mapped[str] = mapped_column(Text, default="")
    slide_id_regex: Mapped[str] = mapped_column(Text, default="")
    case_id_regex: Mapped[str] = mapped_column(Text, default="")
    filename_template: Mapped[str] = mapped_column(String(200))
    require_barcode: Mapped[bool] = mapped_column(Boolean, default=False)
    output_format: Mapped[str] = mapped_column(String(8), default="dicom")
    file_location: Mapped[str] = mapped_column(Text, default="")
    organization: Mapped[str] = mapped_column(String(8), default="full", server_default="full")
    version: Mapped[int] = mapped_column(Integer, default=1)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class QuarantineTable(Base):
    """A received slide/instance file kept aside because it broke its sender's image rules."""

    __tablename__ = "quarantine"
    __table_args__ = (
        Index("ix_quarantine_received_at", "received_at"),
        Index("ix_quarantine_ae_title", "ae_title"),
    )

    pk: Mapped[int] = mapped_column(Integer, primary_key=True)
    ae_title: Mapped[str] = mapped_column(String(16), default="")
    source: Mapped[str] = mapped_column(String(200), default="")
    relpath: Mapped[str] = mapped_column(String(400), unique=True)
    original_name: Mapped[str] = mapped_column(String(255), default="")
    file_size: Mapped[int] = mapped_column(BigInteger)
    checksum: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)
    rules_version: Mapped[int] = mapped_column(Integer, default=0)
    slide_values: Mapped[str] = mapped_column(Text, default="{}")  # JSON of SlideValues
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True),
                                                             nullable=True)
    last_error: Mapped[str] = mapped_column(Text, default="")


class AccountTable(Base):
    """A person's account for the web front and administration (SPEC §7, §9)."""

    __tablename__ = "accounts"

    pk: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64))
    username_key: Mapped[str] = mapped_column(String(64), unique=True)  # lower-case
    password_hash: Mapped[str] = mapped_column(Text)  # Argon2id, PHC string
    role: Mapped[str] = mapped_column(String(16))
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True),
                                                          nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True),
                                                           nullable=True)


class AuditTable(Base):
    """Who did or saw what, when and from where (append-only)."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_at", "at"),)

    pk: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(Text, default="")
    detail: Mapped[str] = mapped_column(Text, default="")
    address: Mapped[str] = mapped_column(String(64), default="")


class PrintJobTable(Base):
    """A print job of the DICOM print server: who printed which films, when (SPEC §8)."""

    __tablename__ = "print_jobs"
    __table_args__ = (Index("ix_print_jobs_created_at", "created_at"),)

    pk: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_uid: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    calling_ae: Mapped[str] = mapped_column(String(16))
    address: Mapped[str] = mapped_column(String(64), default="")
    status: Mapped[str] = mapped_column(String(16))  # DONE (failed prints leave no job)
    colour: Mapped[bool] = mapped_column(Boolean, default=False)
    folder: Mapped[str] = mapped_column(Text)  # relative to the print queue folder
    films: Mapped[str] = mapped_column(Text)  # JSON list of {film_uid, size, layout, png, pdf}


class ScannerTable(Base):
    """A registered slide scanner (SPEC §5): identity, how it authenticates, where it sends
    slides, and what it last reported. Its image rules are the ``image_rules`` row of its
    calling ``ae_title``."""

    __tablename__ = "scanners"

    pk: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    name_key: Mapped[str] = mapped_column(String(64), unique=True)  # lower-case
    ae_title: Mapped[str] = mapped_column(String(16), unique=True)  # the scanner's calling AE
    model: Mapped[str] = mapped_column(String(64), default="")
    serial: Mapped[str] = mapped_column(String(64), default="")
    software_version: Mapped[str] = mapped_column(String(64), default="")
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    # where the scanner sends slides (SPEC §4 "Images": hostname, port, title)
    destination_host: Mapped[str] = mapped_column(String(255), default="")
    destination_port: Mapped[int] = mapped_column(Integer, default=2762)
    destination_ae: Mapped[str] = mapped_column(String(16), default="SVS_STORE_SCP")
    settings_version: Mapped[int] = mapped_column(Integer, default=1)
    state: Mapped[str] = mapped_column(String(32), default="")  # as last reported
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_contact_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True),
                                                             nullable=True)
    last_address: Mapped[str] = mapped_column(String(64), default="")
    clock_skew_seconds: Mapped[float | None] = mapped_column(Float, nullable=True)


class SlideMetadataTable(Base):
    """Image metadata a scanner posted for one slide, joined to the slide's series in the
    index (by image ID, else barcode) whichever of the two arrives first."""

    __tablename__ = "slide_metadata"
    __table_args__ = (
        UniqueConstraint("scanner_pk", "image_id", name="uq_slide_metadata_image"),
        Index("ix_slide_metadata_barcode", "barcode"),
        Index("ix_slide_metadata_series", "series_instance_uid"),
    )

    pk: Mapped[int] = mapped_column(Integer, primary_key=True)
    scanner_pk: Mapped[int] = mapped_column(ForeignKey("scanners.pk", ondelete="CASCADE"))
    image_id: Mapped[str] = mapped_column(String(64))
    barcode: Mapped[str] = mapped_column(String(200), default="")
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    payload: Mapped[str] = mapped_column(Text, default="{}")  # JSON object as posted
    study_instance_uid: Mapped[str] = mapped_column(String(64), default="")
    series_instance_uid: Mapped[str] = mapped_column(String(64), default="")  # "" = not joined
    joined_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class ScannerEventTable(Base):
    """An error or worse that a scanner sent to the event receiver (all events, whatever
    their severity, are in the event log file)."""

    __tablename__ = "scanner_events"
    __table_args__ = (
        Index("ix_scanner_events_received_at", "received_at"),
        Index("ix_scanner_events_scanner", "scanner", "received_at"),
    )

    pk: Mapped[int] = mapped_column(Integer, primary_key=True)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    event_time: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    scanner: Mapped[str] = mapped_column(String(64), default="")
    severity: Mapped[int] = mapped_column(SmallInteger)  # syslog: 0 emergency … 7 debug
    code: Mapped[str] = mapped_column(String(64), default="")
    message: Mapped[str] = mapped_column(Text, default="")
    address: Mapped[str] = mapped_column(String(64), default="")
    source_format: Mapped[str] = mapped_column(String(8))  # "json" or "syslog"
