"""Where stored files live: the BlobStore protocol and its implementations."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import BinaryIO, Protocol

from slidepacs.storage.filesystem import (
    CopyProblem,
    MirroredFileStore,
    PendingPublish,
    StagedFile,
    write_atomically,
)

__all__ = ["BlobStore", "CopyProblem", "MirroredFileStore", "PendingPublish", "StagedFile",
           "instance_relpath", "write_atomically"]


class BlobStore(Protocol):
    """Durable, mirrored storage of whole files addressed by a relative path."""

    locations: tuple[Path, ...]

    def stage(self, source: Path, relpath: str, prefix: bytes = b"", offset: int = 0) -> StagedFile:
        """Write a temporary, fsynced copy in every location."""

    def incoming_path(self) -> Path:
        """A new temporary path where data being received can be written for :meth:`adopt`."""

    def incoming_file(self) -> Path:
        """As :meth:`incoming_path`, with the (empty) file already made."""

    def adopt(self, source: Path, relpath: str, checksum: str | None = None,
              durable: Callable[[], None] | None = None) -> StagedFile:
        """Stage a file the caller hands over, moving it instead of copying where possible."""

    def publish(self, staged: Iterable[StagedFile]) -> None:
        """Make staged copies visible under their final names, durably."""

    def begin_publish(self, staged: Iterable[StagedFile]) -> PendingPublish:
        """Make staged copies visible under their final names; durable once waited for."""

    def discard(self, staged: StagedFile) -> None:
        """Drop a staged copy."""

    def remove(self, relpath: str) -> None:
        """Delete a published file everywhere."""

    def path(self, relpath: str) -> Path:
        """Local path of a readable copy."""

    def open(self, relpath: str) -> BinaryIO:
        """Open a readable copy."""


def instance_relpath(study_uid: str, series_uid: str, sop_uid: str, version: int = 1) -> str:
    """Where an instance is stored: ``<study>/<series>/<sop>[.vN].dcm`` (UIDs already checked)."""
    suffix = "" if version == 1 else f".v{version}"
    return f"{study_uid}/{series_uid}/{sop_uid}{suffix}.dcm"
