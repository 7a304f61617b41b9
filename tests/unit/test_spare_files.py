"""Spare files for receiving: made ahead by a background thread, handed out once each,
renamed to the receiver's name; a spare removed meanwhile (a sweep) costs nothing."""

from __future__ import annotations

import itertools
import time
from pathlib import Path

from slidepacs.storage.spare_files import SpareFiles


def _pool(folder: Path, spare: int = 4) -> SpareFiles:
    numbers = itertools.count()
    return SpareFiles(lambda: folder / f"received.{next(numbers)}.tmp",
                      lambda: folder / f"spare.{next(numbers)}.tmp", spare=spare)


def _spares(folder: Path) -> list[Path]:
    return sorted(folder.glob("spare.*"))


def _wait_for_spares(folder: Path, count: int) -> None:
    deadline = time.monotonic() + 10
    while len(_spares(folder)) < count and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(_spares(folder)) == count


def test_spares_are_made_ahead_and_handed_out_once_each(tmp_path: Path) -> None:
    pool = _pool(tmp_path)
    first = pool.take()  # none ready yet: a name only, the caller makes the file
    assert first.name.startswith("received.") and not first.exists()
    _wait_for_spares(tmp_path, 4)
    taken = [pool.take() for _ in range(4)]
    assert len(set(taken)) == 4 and first not in taken
    for path in taken:
        assert path.name.startswith("received.") and path.exists() and path.stat().st_size == 0
    _wait_for_spares(tmp_path, 4)  # refilled


def test_a_spare_swept_away_meanwhile_still_gives_a_usable_path(tmp_path: Path) -> None:
    pool = _pool(tmp_path, spare=2)
    pool.take()
    _wait_for_spares(tmp_path, 2)
    for spare in _spares(tmp_path):
        spare.unlink()  # as a sweep of temporaries would
    path = pool.take()
    assert not path.exists()
    path.write_bytes(b"data")  # the receiver makes it
    assert path.read_bytes() == b"data"
