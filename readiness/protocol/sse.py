"""Server-Sent Events framing for Streamable HTTP replies: bytes in, the data of each event out."""

from __future__ import annotations


class SseParser:
    """Splits an SSE byte stream into the data of each event, capping any one event's size."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._partial: list[bytes] = []
        self._partial_size = 0
        self._data: list[bytes] = []
        self._data_size = 0
        self.last_id: str | None = None  # the last `id:` seen (Last-Event-ID on a reconnect)
        self.retry_ms: int | None = None  # the last `retry:` the server asked for

    def feed(self, chunk: bytes) -> list[bytes] | None:
        """The events completed by `chunk`, or None once an event exceeds the limit."""
        if b"\n" not in chunk:
            self._partial.append(chunk)
            self._partial_size += len(chunk)
            return None if self._partial_size + self._data_size > self._limit else []
        if self._partial:
            self._partial.append(chunk)
            chunk = b"".join(self._partial)
            self._partial = []
            self._partial_size = 0
        lines = chunk.split(b"\n")
        rest = lines.pop()
        if rest:
            self._partial.append(rest)
            self._partial_size = len(rest)
        events: list[bytes] = []
        for line in lines:
            if line.endswith(b"\r"):
                line = line[:-1]
            if not line:
                if self._data:
                    events.append(b"\n".join(self._data))
                    self._data = []
                    self._data_size = 0
            elif line.startswith(b"data:"):
                value = line[6:] if line.startswith(b"data: ") else line[5:]
                self._data.append(value)
                self._data_size += len(value)
                if self._data_size > self._limit:  # even an event complete in this chunk
                    return None
            elif line.startswith(b"id:"):
                self.last_id = _field(line[3:]).decode("utf-8", "replace") or None
            elif line.startswith(b"retry:"):
                retry = _field(line[6:])
                if retry.isdigit():
                    self.retry_ms = int(retry)
        if self._partial_size + self._data_size > self._limit:
            return None
        return events

    def finish(self) -> list[bytes]:
        """A last event the server did not terminate with a blank line."""
        if self._partial:
            self.feed(b"\n")
        return [b"\n".join(self._data)] if self._data else []


def _field(value: bytes) -> bytes:
    return value[1:] if value.startswith(b" ") else value
