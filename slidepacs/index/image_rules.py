"""Rows of the image rules per sending AE and of the quarantine."""

from __future__ import annotations

import json
from datetime import date, datetime, timezone

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from slidepacs.domain.image_rules import ImageRuleSpec, SlideValues
from slidepacs.domain.quarantine import NewQuarantineEntry, QuarantineEntry, StoredImageRules
from slidepacs.index.tables import ImageRuleTable, QuarantineTable
from slidepacs.index.times import aware

Rules = ImageRuleTable
Quarantine = QuarantineTable


class ImageRulesRepository:
    """Image rules and quarantine entries (the caller's unit of work commits)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    # -- rules -------------------------------------------------------------------------------
    def all_rules(self) -> list[StoredImageRules]:
        """Every sender's rules, by AE title."""
        return [_rules(row) for row in self.session.scalars(select(Rules).order_by(Rules.ae_title))]

    def rules(self, ae_title: str) -> StoredImageRules | None:
        """One sender's rules, if it has any."""
        row = self.session.scalar(select(Rules).where(Rules.ae_title == ae_title))
        return _rules(row) if row is not None else None

    def save_rules(self, ae_title: str, scanner: str, spec: ImageRuleSpec,
                   now: datetime) -> StoredImageRules:
        """Create or replace a sender's rules; the version goes up by one."""
        row = self.session.scalar(select(Rules).where(Rules.ae_title == ae_title)
                                  .with_for_update())
        if row is None:
            row = Rules(ae_title=ae_title, version=0)
            self.session.add(row)
        row.scanner = scanner
        for name, value in spec.fields().items():
            setattr(row, name, value)
        row.version = (row.version or 0) + 1
        row.updated_at = now
        self.session.flush()
        return _rules(row)

    def remove_rules(self, ae_title: str) -> bool:
        """Delete a sender's rules; False if it had none."""
        result = self.session.execute(delete(Rules).where(Rules.ae_title == ae_title))
        return bool(result.rowcount)

    # -- quarantine --------------------------------------------------------------------------
    def add_entry(self, entry: NewQuarantineEntry, now: datetime) -> int:
        """Record a quarantined file; returns its ID."""
        row = Quarantine(
            ae_title=entry.ae_title, source=entry.source[:200], relpath=entry.relpath,
            original_name=entry.original_name[:255], file_size=entry.size,
            checksum=entry.checksum, reason=entry.reason, rules_version=entry.rules_version,
            slide_values=values_json(entry.values), received_at=now, attempts=0,
            last_attempt_at=None, last_error="")
        self.session.add(row)
        self.session.flush()
        return int(row.pk)

    def entries(self, ae_title: str | None = None, limit: int | None = None
                ) -> list[QuarantineEntry]:
        """Quarantined files, oldest first (optionally of one sender)."""
        query = select(Quarantine).order_by(Quarantine.received_at, Quarantine.pk)
        if ae_title is not None:
            query = query.where(Quarantine.ae_title == ae_title)
        if limit is not None:
            query = query.limit(limit)
        return [_entry(row) for row in self.session.scalars(query)]

    def entry(self, pk: int) -> QuarantineEntry | None:
        """One quarantined file by ID."""
        row = self.session.get(Quarantine, pk)
        return _entry(row) if row is not None else None

    def count(self) -> int:
        """How many files are in quarantine."""
        return int(self.session.scalar(select(func.count()).select_from(Quarantine)) or 0)

    def record_attempt(self, pk: int, reason: str, rules_version: int, error: str,
                       now: datetime) -> None:
        """A retry that did not get the file out: the reason as of now, and the error."""
        self.session.execute(
            update(Quarantine).where(Quarantine.pk == pk).values(
                reason=reason, rules_version=rules_version, last_error=error,
                attempts=Quarantine.attempts + 1, last_attempt_at=now),
            execution_options={"synchronize_session": False})

    def remove_entry(self, pk: int) -> bool:
        """Forget a quarantined file (its file is removed by the caller after the commit)."""
        result = self.session.execute(delete(Quarantine).where(Quarantine.pk == pk))
        return bool(result.rowcount)


def values_json(values: SlideValues) -> str:
    """SlideValues as stored with a quarantined file."""
    return json.dumps({
        "image_id": values.image_id, "barcode": values.barcode, "scanner": values.scanner,
        "scan_date": values.scan_date.isoformat() if values.scan_date else None,
        "barcode_symbology": values.barcode_symbology,
    })


def values_from_json(text: str) -> SlideValues:
    """The SlideValues stored with a quarantined file."""
    data = json.loads(text or "{}")
    scan_date = data.get("scan_date")
    return SlideValues(
        str(data.get("image_id", "")), data.get("barcode"), str(data.get("scanner", "")),
        date.fromisoformat(scan_date) if scan_date else None,
        str(data.get("barcode_symbology", "")))


def _rules(row: ImageRuleTable) -> StoredImageRules:
    spec = ImageRuleSpec(row.barcode_regex, row.modifier_regex, row.modifier_format,
                         row.slide_id_regex, row.case_id_regex, row.filename_template,
                         bool(row.require_barcode), row.output_format, row.file_location,
                         row.organization)
    return StoredImageRules(row.ae_title, row.scanner, spec, row.version,
                            aware(row.updated_at))


def _entry(row: QuarantineTable) -> QuarantineEntry:
    return QuarantineEntry(
        row.pk, row.ae_title, row.source, row.relpath, row.original_name, row.file_size,
        row.checksum, row.reason, row.rules_version, values_from_json(row.slide_values),
        aware(row.received_at) or datetime.now(timezone.utc), row.attempts,
        aware(row.last_attempt_at), row.last_error)
