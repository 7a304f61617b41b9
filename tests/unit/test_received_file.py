"""storage.received_file.ReceivedFile: every byte written and hashed whatever the size and way
of writing (held, direct, streamed where O_DIRECT is refused)."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import threading
from pathlib import Path

import pytest

from slidepacs.storage.received_file import HASH_THREAD_BYTES, HELD_BYTES, ReceivedFile
from slidepacs.storage import direct_io
from slidepacs.storage.direct_io import DIRECT_ALIGNMENT


@pytest.mark.parametrize("size", [1000, HASH_THREAD_BYTES - 1, 3 * HASH_THREAD_BYTES + 17])
def test_checksum_and_bytes_are_those_written_whatever_the_size(tmp_path: Path, size: int):
    data = os.urandom(size)
    buffer = bytearray(131066)  # reused for every write, as the DUL's receive buffer is
    received = ReceivedFile(tmp_path / "in.tmp")
    for start in range(0, size, len(buffer)):
        piece = data[start:start + len(buffer)]
        buffer[:len(piece)] = piece
        received.write(memoryview(buffer)[:len(piece)])
    received.close()
    received.wait_durable()
    assert received.checksum == hashlib.sha256(data).hexdigest()
    assert (tmp_path / "in.tmp").read_bytes() == data
    assert not [t for t in threading.enumerate() if t.name == "received-hash"]


def test_a_large_file_dropped_half_way_leaves_no_hashing_thread(tmp_path: Path):
    received = ReceivedFile(tmp_path / "in.tmp")
    received.write(os.urandom(2 * HASH_THREAD_BYTES))
    received.close()
    os.unlink(received.name)
    assert not [t for t in threading.enumerate() if t.name == "received-hash"]


def _receive(path: Path, data: bytes, piece: int = 16384) -> ReceivedFile:
    received = ReceivedFile(path)
    for start in range(0, len(data), piece):
        received.write(data[start:start + piece])
    return received


@pytest.mark.parametrize("size", [0, 100, DIRECT_ALIGNMENT, 3 * DIRECT_ALIGNMENT + 5, HELD_BYTES])
def test_a_data_set_up_to_the_held_size_is_held_and_written_whole_when_closed(
        tmp_path: Path, size: int):
    data = os.urandom(size)
    received = _receive(tmp_path / "in.tmp", data)
    held = received.held()
    assert held is not None and bytes(held) == data
    assert (tmp_path / "in.tmp").stat().st_size == 0  # nothing written before it is complete
    received.close()
    assert (tmp_path / "in.tmp").read_bytes() == data  # written (readable) once closed
    received.wait_durable()
    assert received.checksum == hashlib.sha256(data).hexdigest()
    received.release()
    assert received.held() is None


def test_a_data_set_that_outgrows_the_held_size_is_written_as_it_arrives(tmp_path: Path):
    data = os.urandom(3 * HELD_BYTES + DIRECT_ALIGNMENT + 1)
    received = _receive(tmp_path / "in.tmp", data, piece=1 << 20)
    assert received.held() is None
    # at most IN_FLIGHT buffers are being written, so the first is on disk by now
    assert (tmp_path / "in.tmp").stat().st_size >= HELD_BYTES
    received.close()
    received.wait_durable()
    received.release()
    assert (tmp_path / "in.tmp").read_bytes() == data
    assert received.checksum == hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("size", [5 * DIRECT_ALIGNMENT + 123, 2 * HELD_BYTES + 5])
def test_a_data_set_is_written_where_direct_writes_are_refused(
        tmp_path: Path, size: int, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(direct_io, "set_direct", lambda fd, on: False)  # as NFS may
    data = os.urandom(size)
    received = _receive(tmp_path / "in.tmp", data, piece=1 << 20)
    if size > HELD_BYTES:  # streamed through the page cache as it arrives
        assert (tmp_path / "in.tmp").stat().st_size == size
    received.close()
    received.wait_durable()
    received.release()
    assert (tmp_path / "in.tmp").read_bytes() == data
    assert received.checksum == hashlib.sha256(data).hexdigest()


@pytest.mark.skipif(not Path("/dev/shm").is_dir(), reason="no tmpfs at /dev/shm")
@pytest.mark.parametrize("size", [5 * DIRECT_ALIGNMENT + 123, 2 * HELD_BYTES + 5])
def test_a_data_set_is_written_on_tmpfs(size: int):
    folder = Path(tempfile.mkdtemp(dir="/dev/shm"))
    try:
        data = os.urandom(size)
        received = _receive(folder / "in.tmp", data, piece=1 << 20)
        received.close()
        received.wait_durable()
        received.release()
        assert (folder / "in.tmp").read_bytes() == data
        assert received.checksum == hashlib.sha256(data).hexdigest()
    finally:
        shutil.rmtree(folder)


def test_held_buffers_are_reused_once_released_and_never_shared_before(tmp_path: Path):
    first = _receive(tmp_path / "a.tmp", b"a" * 5000)
    second = _receive(tmp_path / "b.tmp", b"b" * 5000)
    assert bytes(first.held() or b"") == b"a" * 5000  # not overwritten by the second
    for received in (first, second):
        received.close()
        received.wait_durable()
        received.release()
    open_files = len(os.listdir("/proc/self/fd"))
    third = _receive(tmp_path / "c.tmp", b"c" * 10)
    assert bytes(third.held() or b"") == b"c" * 10
    third.close()
    third.release()  # closes the file never waited for
    assert len(os.listdir("/proc/self/fd")) == open_files
    assert (tmp_path / "c.tmp").read_bytes() == b"c" * 10
