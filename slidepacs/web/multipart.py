"""multipart/related bodies (RFC 2387) as DICOMweb uses them: written as a stream of parts,
and read from a request stream straight into files, never whole in memory (each part into a
:class:`~slidepacs.storage.received_file.ReceivedFile`: hashed as it arrives, written with
``O_DIRECT`` where the file system allows it)."""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from fastapi.concurrency import run_in_threadpool

from slidepacs.errors import InvalidInput, StorageFailure
from slidepacs.storage.received_file import ReceivedFile

CRLF = b"\r\n"
_CHUNK = 1024 * 1024
_MAX_PART_HEADERS = 16 * 1024


def new_boundary() -> str:
    """A random boundary that cannot occur in DICOM data by chance."""
    return f"slidepacs-{secrets.token_hex(16)}"


def related_type(part_type: str, boundary: str, **parameters: str) -> str:
    """The Content-Type of a multipart/related body whose parts are ``part_type``."""
    extra = "".join(f"; {key.replace('_', '-')}={value}" for key, value in parameters.items())
    return f'multipart/related; type="{part_type}"; boundary={boundary}{extra}'


@dataclass(frozen=True, slots=True)
class OutgoingPart:
    """One part to send: its Content-Type, extra headers, and its bytes as chunks."""

    content_type: str
    chunks: Callable[[], Iterable[bytes]]
    headers: tuple[tuple[str, str], ...] = ()


def stream_parts(parts: Iterable[OutgoingPart], boundary: str) -> Iterator[bytes]:
    """The body of a multipart/related response, chunk by chunk."""
    delimiter = f"--{boundary}".encode()
    for part in parts:
        head = [f"Content-Type: {part.content_type}"]
        head += [f"{name}: {value}" for name, value in part.headers]
        yield delimiter + CRLF + "\r\n".join(head).encode() + CRLF + CRLF
        yield from part.chunks()
        yield CRLF
    yield delimiter + b"--" + CRLF


def file_chunks(path: Path, offset: int = 0, length: int | None = None) -> Iterator[bytes]:
    """The bytes of ``path`` from ``offset`` (``length`` of them, else to the end)."""
    with path.open("rb") as handle:
        handle.seek(offset)
        left = length if length is not None else os.fstat(handle.fileno()).st_size - offset
        while left > 0:
            chunk = handle.read(min(_CHUNK, left))
            if not chunk:
                return
            left -= len(chunk)
            yield chunk


def boundary_of(content_type: str) -> str:
    """The boundary parameter of a multipart Content-Type; InvalidInput if there is none."""
    match = re.search(r'boundary\s*=\s*(?:"([^"]+)"|([^;\s]+))', content_type, re.IGNORECASE)
    if not match:
        raise InvalidInput("the multipart Content-Type has no boundary parameter")
    boundary = match.group(1) or match.group(2)
    if not 1 <= len(boundary) <= 70:
        raise InvalidInput("the multipart boundary must be 1 to 70 characters")
    return boundary


@dataclass(slots=True)
class ReceivedPart:
    """A part read from a request: its headers (lower-case names) and the file holding it."""

    headers: dict[str, str]
    path: Path
    size: int = 0
    checksum: str | None = None  # of the file's bytes, hashed as they were written

    @property
    def content_type(self) -> str:
        """The part's media type without parameters, lower-case ('' when not given)."""
        return self.headers.get("content-type", "").split(";")[0].strip().lower()


# called with each part as soon as its file is written, and its bytes if still in memory
PartHandler = Callable[[ReceivedPart, "memoryview | None"], None]


@dataclass(slots=True)
class _Reader:
    """Incremental multipart parser state."""

    boundary: bytes
    new_path: Callable[[], Path]
    limit: int
    on_part: PartHandler | None = None
    parts: list[ReceivedPart] = field(default_factory=list)
    buffer: bytearray = field(default_factory=bytearray)
    total: int = 0
    state: str = "preamble"  # preamble → headers → body → (headers → body)* → done
    handle: ReceivedFile | None = None
    # parts complete whose files are still being written: closed off the event loop
    finished: list[tuple[ReceivedPart, ReceivedFile]] = field(default_factory=list)


async def read_parts(
    chunks: AsyncIterable[bytes], content_type: str, new_path: Callable[[], Path], limit: int,
    on_part: PartHandler | None = None,
) -> list[ReceivedPart]:
    """Read a multipart/related body into one file per part (from ``new_path``).

    ``on_part`` is called (in a worker thread) with each part as soon as its file is
    written, and with the part's bytes when they are still in memory (valid during the call
    only). Raises InvalidInput for a malformed body and PayloadTooLarge past ``limit``
    bytes; on any error every file written so far is removed.
    """
    reader = _Reader(f"--{boundary_of(content_type)}".encode(), new_path, limit, on_part)
    try:
        async for chunk in _counted(chunks, reader):
            reader.buffer += chunk
            _consume(reader, final=False)
            if reader.finished:
                await run_in_threadpool(_finish_parts, reader)
        _consume(reader, final=True)
        await run_in_threadpool(_finish_parts, reader)
        if reader.state != "done":
            raise InvalidInput("the multipart body ends before its closing boundary")
        if not reader.parts:
            raise InvalidInput("the multipart body has no parts")
        return reader.parts
    except BaseException:
        _close_all(reader)
        remove_parts(reader.parts)
        raise


class PayloadTooLarge(InvalidInput):
    """A request body larger than the configured limit."""


async def _counted(chunks: AsyncIterable[bytes], reader: _Reader) -> AsyncIterator[bytes]:
    async for chunk in chunks:
        reader.total += len(chunk)
        if reader.total > reader.limit:
            raise PayloadTooLarge(f"the request body exceeds the limit of {reader.limit} bytes")
        if chunk:
            yield chunk


def remove_parts(parts: Iterable[ReceivedPart]) -> None:
    """Delete the files of parts that were not handed over."""
    for part in parts:
        part.path.unlink(missing_ok=True)


def _consume(reader: _Reader, final: bool) -> None:
    """Advance through the buffered bytes as far as they allow."""
    while True:
        if reader.state == "preamble" and not _skip_preamble(reader):
            return
        if reader.state == "headers" and not _read_headers(reader):
            if final or len(reader.buffer) > _MAX_PART_HEADERS:
                raise InvalidInput("a multipart part has no complete header block")
            return
        if reader.state == "body" and not _read_body(reader, final):
            return
        if reader.state == "done":
            return


def _skip_preamble(reader: _Reader) -> bool:
    index = reader.buffer.find(reader.boundary)
    if index < 0 or len(reader.buffer) < index + len(reader.boundary) + 2:
        if len(reader.buffer) > _MAX_PART_HEADERS:
            raise InvalidInput("the body does not start with the multipart boundary")
        return False
    after = index + len(reader.boundary)
    if reader.buffer[after:after + 2] == b"--":
        raise InvalidInput("the multipart body has no parts")
    line_end = reader.buffer.find(CRLF, after)
    if line_end < 0:
        return False
    del reader.buffer[:line_end + 2]
    reader.state = "headers"
    return True


def _read_headers(reader: _Reader) -> bool:
    end = reader.buffer.find(CRLF + CRLF)
    if reader.buffer.startswith(CRLF):
        end = -2  # no headers at all: the blank line comes first
    elif end < 0:
        return False
    block = bytes(reader.buffer[:max(end, 0)]).decode("latin-1")
    del reader.buffer[:end + 4]
    headers: dict[str, str] = {}
    for line in block.split("\r\n"):
        if not line:
            continue
        name, colon, value = line.partition(":")
        if not colon or not name.strip():
            raise InvalidInput(f"a multipart part has a malformed header line {line[:60]!r}")
        headers[name.strip().lower()] = value.strip()
    path = reader.new_path()
    reader.parts.append(ReceivedPart(headers, path))
    reader.handle = ReceivedFile(path)
    reader.state = "body"
    return True


def _read_body(reader: _Reader, final: bool) -> bool:
    """Write body bytes up to the next delimiter; keep a possible partial delimiter."""
    delimiter = CRLF + reader.boundary
    index = reader.buffer.find(delimiter)
    if index < 0:
        keep = len(delimiter) + 1
        if final:
            raise InvalidInput("the multipart body ends inside a part")
        if len(reader.buffer) > keep:
            _write(reader, reader.buffer[:-keep])
            del reader.buffer[:-keep]
        return False
    after = index + len(delimiter)
    if len(reader.buffer) < after + 2:
        if final:
            raise InvalidInput("the multipart body ends inside a boundary")
        return False
    _write(reader, reader.buffer[:index])
    assert reader.handle is not None
    reader.finished.append((reader.parts[-1], reader.handle))
    reader.handle = None
    closing = reader.buffer[after:after + 2] == b"--"
    line_end = reader.buffer.find(CRLF, after)
    if closing:
        reader.buffer.clear()  # the epilogue is ignored
        reader.state = "done"
        return True
    if line_end < 0:
        return False
    del reader.buffer[:line_end + 2]
    reader.state = "headers"
    return True


def _write(reader: _Reader, data: bytes | bytearray) -> None:
    if data:
        assert reader.handle is not None
        reader.handle.write(data)
        reader.parts[-1].size += len(data)


def _finish_parts(reader: _Reader) -> None:
    """Wait for the files of the parts complete so far to be written (the store syncs them)
    and keep their checksums; StorageFailure if one could not be written."""
    finished, reader.finished = reader.finished, []
    failures = []
    for part, handle in finished:
        handle.close()
        if handle.failure is not None:
            failures.append(handle.failure)
            handle.release()
            continue
        part.checksum = handle.checksum
        content = handle.held()
        try:
            if reader.on_part is not None and not failures:
                reader.on_part(part, content)
        finally:
            if content is not None:
                content.release()
            handle.release()
    if failures:
        raise StorageFailure(f"cannot write a received part "
                             f"({failures[0].strerror or failures[0]})")


def _close_all(reader: _Reader) -> None:
    """Close every part's file still open (their files are removed with the others)."""
    handles = [handle for _, handle in reader.finished]
    if reader.handle is not None:
        handles.append(reader.handle)
    reader.handle, reader.finished = None, []
    for handle in handles:
        handle.close()
        handle.release()
