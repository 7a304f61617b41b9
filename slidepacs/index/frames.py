"""Rows of frame maps: where each frame of an instance's current file lies."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import LargeBinary, Select, bindparam, delete, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from slidepacs.index.direct import DirectReader
from slidepacs.index.tables import Instance, InstanceFrames, Series, Study


@dataclass(frozen=True, slots=True)
class FrameSource:
    """What reading an instance's frames needs: its current file, its transfer syntax and
    its packed frame map. ``mapped`` is False for an instance indexed before frame maps
    were recorded (no row yet); ``frame_map`` is None when not mapped, not loaded, or when
    the frames cannot be located without parsing the file."""

    instance_pk: int
    study_instance_uid: str
    series_instance_uid: str
    relpath: str
    transfer_syntax_uid: str
    number_of_frames: int | None
    mapped: bool
    frame_map: bytes | None


class FrameRepository:
    """Frame maps in the index (the caller's unit of work commits)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def frame_map(self, sop_instance_uid: str, load_map: bool = True) -> FrameSource | None:
        """The instance's current file, transfer syntax and packed frame map, in one query
        (``load_map`` False leaves the map out, for a caller that has it cached)."""
        statement = _FRAME_SOURCE if load_map else _FRAME_FILE
        row = self.session.connection().execute(statement, {"uid": sop_instance_uid}).first()
        return _source(row, load_map)

    def save(self, instance_pk: int, relpath: str, frame_map: bytes | None) -> bool:
        """Record the frame map of an instance indexed without one, if its current file is
        still ``relpath`` and no map was recorded meanwhile; True if it was recorded."""
        dialect = postgresql if self.session.bind.dialect.name == "postgresql" else sqlite
        current = select(_INSTANCE.c.pk, bindparam("frame_map", type_=LargeBinary)).where(
            _INSTANCE.c.pk == instance_pk, _INSTANCE.c.relpath == relpath)
        statement = dialect.insert(_FRAMES).from_select(
            ["instance_pk", "frame_map"], current).on_conflict_do_nothing()
        result = self.session.connection().execute(statement, {"frame_map": frame_map})
        return bool(result.rowcount)


class FrameFiles:
    """Which file holds an instance's frames, read without a session (the frame requests'
    hot path: one indexed statement on a direct connection)."""

    def __init__(self, reader: DirectReader) -> None:
        self._reader = reader

    def source(self, sop_instance_uid: str) -> FrameSource | None:
        """The instance's current file and transfer syntax (``frame_map`` left out)."""
        return _source(self._reader.first(_FRAME_FILE, {"uid": sop_instance_uid}), False)


def _source(row: Sequence[Any] | None, load_map: bool) -> FrameSource | None:
    if row is None:
        return None
    return FrameSource(row[0], row[1], row[2], row[3], row[4], row[5], row[6] is not None,
                       row[7] if load_map else None)


_INSTANCE = Instance.__table__
_FRAMES = InstanceFrames.__table__
INSERT_FRAMES = insert(_FRAMES)
DELETE_FRAMES = delete(_FRAMES).where(_FRAMES.c.instance_pk == bindparam("pk"))


def _frame_source(load_map: bool) -> Select[tuple]:
    """One instance's file, study/series UIDs and frame row (the map itself if asked)."""
    study, series = Study.__table__, Series.__table__
    last = _FRAMES.c.frame_map if load_map else _FRAMES.c.instance_pk
    return (
        select(_INSTANCE.c.pk, study.c.study_instance_uid, series.c.series_instance_uid,
               _INSTANCE.c.relpath, _INSTANCE.c.transfer_syntax_uid,
               _INSTANCE.c.number_of_frames, _FRAMES.c.instance_pk, last)
        .join(series, series.c.pk == _INSTANCE.c.series_pk)
        .join(study, study.c.pk == series.c.study_pk)
        .outerjoin(_FRAMES, _FRAMES.c.instance_pk == _INSTANCE.c.pk)
        .where(_INSTANCE.c.sop_instance_uid == bindparam("uid"))
    )


_FRAME_SOURCE = _frame_source(load_map=True)
_FRAME_FILE = _frame_source(load_map=False)
