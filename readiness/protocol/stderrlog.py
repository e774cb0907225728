"""A bounded log of a server's stderr: the first bytes on disk, a rolling tail in memory.

Fed from the pipe callback, so it never blocks the server; at most head + tail bytes are kept.
"""

from __future__ import annotations

from collections import deque
from typing import BinaryIO

HEAD_BYTES = 256 * 1024
TAIL_BYTES = 768 * 1024
TAIL_LINES = 50


class StderrLog:
    """Keeps the first `head_bytes` (written to `path` as they arrive) and the last
    `tail_bytes` (written on close), so the file never exceeds head + tail plus a marker."""

    def __init__(
        self,
        path: str | None,
        *,
        head_bytes: int = HEAD_BYTES,
        tail_bytes: int = TAIL_BYTES,
    ) -> None:
        self._file: BinaryIO | None = open(path, "wb") if path else None  # noqa: SIM115
        self._head_room = head_bytes
        self._head = bytearray()  # a copy of what went to disk, for tail_lines() before overflow
        self._tail: deque[bytes] = deque()
        self._tail_size = 0
        self._tail_bytes = tail_bytes
        self.total_bytes = 0

    def feed(self, data: bytes) -> None:
        self.total_bytes += len(data)
        if self._head_room > 0:
            head, data = data[: self._head_room], data[self._head_room :]
            self._head_room -= len(head)
            self._head += head
            if self._file is not None:
                self._file.write(head)
                self._file.flush()
        if not data:
            return
        self._tail.append(data)
        self._tail_size += len(data)
        excess = self._tail_size - self._tail_bytes
        while excess > 0:
            first = self._tail[0]
            if len(first) <= excess:
                self._tail.popleft()
                cut = len(first)
            else:
                self._tail[0] = first[excess:]
                cut = excess
            self._tail_size -= cut
            excess -= cut

    @property
    def skipped_bytes(self) -> int:
        return self.total_bytes - len(self._head) - self._tail_size

    def tail_lines(self, count: int = TAIL_LINES) -> str:
        """The last `count` lines seen (decoded leniently), for error messages."""
        recent = (
            b"".join(self._tail)[-64 * 1024 :] if self._tail else bytes(self._head[-64 * 1024 :])
        )
        lines = recent.decode("utf-8", errors="replace").splitlines()
        return "\n".join(lines[-count:])

    def close(self) -> None:
        """Write the tail behind a marker naming what was dropped in between, then close."""
        if self._file is None:
            return
        file, self._file = self._file, None
        try:
            if self._tail:
                skipped = self.skipped_bytes
                if skipped:
                    file.write(f"\n[... {skipped} bytes of stderr skipped ...]\n".encode())
                for chunk in self._tail:
                    file.write(chunk)
        finally:
            file.close()
