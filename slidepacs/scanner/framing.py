"""Splitting a TCP byte stream into event frames: LF/CRLF-terminated lines, or RFC 6587
octet-counted frames (``LEN SP MSG``, as ``logger --octet-count`` sends), with a hard size
limit. Holds at most ``max_bytes`` plus one received chunk."""

from __future__ import annotations

from collections.abc import Iterator

OVERSIZED = None  # yielded instead of a frame that was longer than the limit
_MAX_COUNT_DIGITS = 7


class Framer:
    """Feed received bytes, get complete frames (``bytes``) or ``OVERSIZED`` markers."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._buffer = bytearray()
        self._skip = 0  # bytes of an oversized octet-counted frame still to drop
        self._discarding = False  # dropping an oversized line up to its LF
        self._count_digits = 0  # digits of the octet count at the buffer's start

    def feed(self, data: bytes) -> Iterator[bytes | None]:
        """The frames that ``data`` completes, in order."""
        self._buffer += data
        while self._buffer:
            if self._skip:
                dropped = min(self._skip, len(self._buffer))
                del self._buffer[:dropped]
                self._skip -= dropped
                continue
            if self._discarding:
                end = self._buffer.find(b"\n")
                if end < 0:
                    self._buffer.clear()
                    return
                del self._buffer[:end + 1]
                self._discarding = False
                continue
            counted = self._octet_count()
            if counted == 0:
                return  # an octet count still arriving
            frame = self._counted_frame(counted) if counted > 0 else self._line()
            if frame is _WAIT:
                return
            yield frame  # type: ignore[misc]

    def finish(self) -> Iterator[bytes | None]:
        """At end of stream: the last line if it had no line end."""
        rest = bytes(self._buffer).rstrip(b"\r")
        self._buffer.clear()
        if rest and not self._discarding and not self._skip:
            yield rest if len(rest) <= self.max_bytes else OVERSIZED

    def _octet_count(self) -> int:
        """The length of an octet-counted frame at the buffer's start; 0 while its count is
        still arriving, -1 if the buffer starts a line instead."""
        head = self._buffer[:_MAX_COUNT_DIGITS + 1]
        if not head[:1].isdigit() or head[:1] == b"0":
            return -1
        digits = 0
        while digits < len(head) and head[digits:digits + 1].isdigit():
            digits += 1
        if digits == len(head):
            return 0 if digits <= _MAX_COUNT_DIGITS else -1
        if head[digits:digits + 1] != b" ":
            return -1
        self._count_digits = digits
        return int(head[:digits])

    def _counted_frame(self, length: int) -> bytes | None | object:
        header = self._count_digits + 1
        if length > self.max_bytes:
            dropped = min(len(self._buffer), header + length)
            self._skip = header + length - dropped
            del self._buffer[:dropped]
            return OVERSIZED
        if len(self._buffer) < header + length:
            return _WAIT
        frame = bytes(self._buffer[header:header + length]).rstrip(b"\r\n")
        del self._buffer[:header + length]
        return frame

    def _line(self) -> bytes | None | object:
        end = self._buffer.find(b"\n")
        if end < 0:
            if len(self._buffer) > self.max_bytes + 1:  # + 1: a CR may end it
                self._buffer.clear()
                self._discarding = True
                return OVERSIZED
            return _WAIT
        line = bytes(self._buffer[:end])
        del self._buffer[:end + 1]
        line = line[:-1] if line.endswith(b"\r") else line
        return line if len(line) <= self.max_bytes else OVERSIZED


_WAIT = object()
