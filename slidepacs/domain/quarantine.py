"""Quarantined slides: files that broke their sender's image rules, kept until fixed (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from slidepacs.domain.image_rules import ImageRuleSpec, SlideValues


@dataclass(frozen=True, slots=True)
class StoredImageRules:
    """One sender's rule set as stored, with its version (bumped on every change)."""

    ae_title: str
    scanner: str
    spec: ImageRuleSpec
    version: int
    updated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class NewQuarantineEntry:
    """A file to record in the quarantine (already written durably under ``relpath``)."""

    ae_title: str
    source: str
    relpath: str
    original_name: str
    size: int
    checksum: str
    reason: str
    rules_version: int
    values: SlideValues


@dataclass(frozen=True, slots=True)
class QuarantineEntry:
    """A quarantined file, why it is there, and how retries went."""

    pk: int
    ae_title: str
    source: str
    relpath: str
    original_name: str
    size: int
    checksum: str
    reason: str
    rules_version: int
    values: SlideValues
    received_at: datetime
    attempts: int
    last_attempt_at: datetime | None
    last_error: str
