"""storage: a staged copy (import's way of storing) holds every byte of prefix + source[offset:]
in every location, written with O_DIRECT in whole buffers where the file system allows it and
through the page cache where it does not (tmpfs)."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import pytest

from slidepacs.storage import direct_io
from slidepacs.storage.direct_io import DIRECT_ALIGNMENT, AlignedBuffers
from slidepacs.storage.filesystem import CHUNK, MirroredFileStore

SIZES = [0, 100, DIRECT_ALIGNMENT, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + DIRECT_ALIGNMENT + 7]


def _stage_and_read(locations: list[Path], source: Path, prefix: bytes,
                    offset: int) -> tuple[list[bytes], str, int]:
    store = MirroredFileStore(locations)
    staged = store.stage(source, "a/b.dcm", prefix, offset)
    store.publish([staged])
    return [store.resolve(location, "a/b.dcm").read_bytes() for location in locations], \
        staged.checksum, staged.size


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize(("prefix", "offset"), [(b"", 0), (b"P" * 132, 0), (b"Q" * 300, 128)])
def test_every_byte_reaches_the_file_whatever_the_size(tmp_path: Path, size: int, prefix: bytes,
                                                       offset: int) -> None:
    data = os.urandom(size)
    (tmp_path / "source").write_bytes(data)
    expected = prefix + data[offset:]
    [copy], checksum, written = _stage_and_read([tmp_path / "data"], tmp_path / "source",
                                                prefix, offset)
    assert copy == expected and written == len(expected)
    assert checksum == hashlib.sha256(expected).hexdigest()


def test_a_prefix_longer_than_a_buffer_is_written_whole(tmp_path: Path) -> None:
    prefix, data = os.urandom(2 * CHUNK + 5), os.urandom(CHUNK + 3)
    (tmp_path / "source").write_bytes(data)
    [copy], checksum, _ = _stage_and_read([tmp_path / "data"], tmp_path / "source", prefix, 0)
    assert copy == prefix + data and checksum == hashlib.sha256(prefix + data).hexdigest()


@pytest.mark.skipif(not Path("/dev/shm").is_dir(), reason="no tmpfs at /dev/shm")
def test_mirrors_on_a_file_system_without_direct_writes_get_the_same_bytes(
        tmp_path: Path) -> None:
    data = os.urandom(2 * CHUNK + 999)
    (tmp_path / "source").write_bytes(data)
    shm = Path("/dev/shm") / f"slidepacs-test-{os.getpid()}-{tmp_path.name}"
    try:
        copies, _, _ = _stage_and_read([tmp_path / "disk", shm], tmp_path / "source", b"", 0)
        assert copies == [data, data]
    finally:
        shutil.rmtree(shm, ignore_errors=True)


def test_the_copy_is_written_where_direct_writes_are_refused(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(direct_io, "set_direct", lambda fd, on: False)  # as NFS may
    data = os.urandom(CHUNK + DIRECT_ALIGNMENT + 1)
    (tmp_path / "source").write_bytes(data)
    [copy], _, _ = _stage_and_read([tmp_path / "data"], tmp_path / "source", b"x", 0)
    assert copy == b"x" + data


def test_buffers_are_page_aligned_reused_and_never_shared() -> None:
    buffers = AlignedBuffers(2 * DIRECT_ALIGNMENT, keep=1)
    first, second = buffers.take(), buffers.take()
    assert first is not second and len(first) == 2 * DIRECT_ALIGNMENT
    buffers.give(first)
    buffers.give(second)  # more than kept: closed
    assert second.closed and buffers.take() is first
    with pytest.raises(ValueError, match="multiple"):
        AlignedBuffers(DIRECT_ALIGNMENT + 1, keep=1)

