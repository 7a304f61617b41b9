"""Writing a file durably under a new name: failures are StorageFailure and leave nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from slidepacs.errors import StorageFailure
from slidepacs.storage.filesystem import write_atomically


def test_a_file_is_written_whole_under_its_name(tmp_path: Path) -> None:
    target = write_atomically(tmp_path / "a" / "film.png", lambda p: p.write_bytes(b"x" * 10))
    assert target.read_bytes() == b"x" * 10
    assert sorted(p.name for p in target.parent.iterdir()) == ["film.png"]


def test_a_folder_that_is_a_file_gives_storage_failure(tmp_path: Path) -> None:
    (tmp_path / "queue").write_bytes(b"not a folder")
    with pytest.raises(StorageFailure, match="cannot write"):
        write_atomically(tmp_path / "queue" / "film.png", lambda p: p.write_bytes(b"x"))
    assert (tmp_path / "queue").read_bytes() == b"not a folder"


def test_a_failing_writer_leaves_no_temporary_file(tmp_path: Path) -> None:
    def fail(path: Path) -> None:
        path.write_bytes(b"half")
        raise OSError(28, "No space left on device")

    with pytest.raises(StorageFailure, match="No space left"):
        write_atomically(tmp_path / "film.png", fail)
    assert list(tmp_path.iterdir()) == []
