"""Events published by services after their transaction commits."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class InstanceStored:
    """An instance was durably stored and indexed (or a new version of it was)."""

    sop_instance_uid: str
    sop_class_uid: str
    study_instance_uid: str
    series_instance_uid: str
    patient_id: str
    modality: str
    path: Path
    size: int
    version: int
    source: str
    sender: str = ""  # the AE whose image rules applied (whole slides from a scanner)


@dataclass(frozen=True, slots=True)
class ForwardQueued:
    """Forwarding jobs were queued (committed) for these destinations."""

    destinations: tuple[str, ...]
