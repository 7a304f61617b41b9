"""web.multipart.read_parts: each part lands in its own file with the checksum of its bytes,
and the part handler sees each part once its file is written (with its bytes while they are
still in memory); a body cut short removes every file."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import os
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from slidepacs.errors import InvalidInput
from slidepacs.storage.received_file import HELD_BYTES
from slidepacs.web.multipart import ReceivedPart, read_parts

BOUNDARY = "b0undary"
TYPE = f'multipart/related; type="application/dicom"; boundary={BOUNDARY}'


def _body(parts: list[bytes]) -> bytes:
    return b"".join(f"--{BOUNDARY}\r\nContent-Type: application/dicom\r\n\r\n".encode() + p
                    + b"\r\n" for p in parts) + f"--{BOUNDARY}--\r\n".encode()


async def _chunks(body: bytes, size: int = 65536) -> AsyncIterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start:start + size]


def _read(tmp_path: Path, body: bytes,
          seen: list[tuple[ReceivedPart, bytes | None]]) -> list[ReceivedPart]:
    counter = itertools.count()

    def handle(part: ReceivedPart, content: memoryview | None) -> None:
        assert part.path.stat().st_size == part.size  # written before the handler runs
        if content is not None:
            assert part.path.read_bytes() == bytes(content)
        seen.append((part, None if content is None else bytes(content)))

    reading = read_parts(_chunks(body), TYPE,
                         lambda: tmp_path / f"part{next(counter)}.tmp", 1 << 30, handle)
    # A thread of its own: an earlier test (Playwright's sync API) may leave a loop running here.
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, reading).result()


def test_each_part_is_a_file_with_its_checksum_and_is_handed_over_once_written(
        tmp_path: Path) -> None:
    data = [os.urandom(1000), b"", os.urandom(HELD_BYTES + 4097)]  # held, empty, in pieces
    seen: list[tuple[ReceivedPart, bytes | None]] = []
    parts = _read(tmp_path, _body(data), seen)
    assert [p.path.read_bytes() for p in parts] == data
    assert [p.checksum for p in parts] == [hashlib.sha256(d).hexdigest() for d in data]
    assert [part for part, _ in seen] == parts
    assert [content for _, content in seen] == [data[0], data[1], None]  # large: not held


def test_a_body_cut_short_removes_every_file(tmp_path: Path) -> None:
    body = _body([os.urandom(5000), os.urandom(5000)])[:-20]
    with pytest.raises(InvalidInput, match="multipart"):
        _read(tmp_path, body, [])
    assert list(tmp_path.iterdir()) == []
