"""dimse.incoming.ReceivedFile: hashed as written, by a thread of its own once large."""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

import pytest

from slidepacs.dimse.incoming import HASH_THREAD_BYTES, ReceivedFile


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
