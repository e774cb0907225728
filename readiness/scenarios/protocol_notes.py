"""What a server did to the MCP framing during a scenario, as counted by its connections, and
one sentence for each kind of violation, as the reports show it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from readiness.protocol.jsonrpc import TableStatistics
from readiness.results import ProtocolNotes


def protocol_notes(
    connections: Sequence[object], transport: Literal["stdio", "http"], max_reply_bytes: int
) -> ProtocolNotes | None:
    """The violations and transport failures summed over `connections` (those without
    counters are skipped), or None when there were none."""
    stats = [s for c in connections if isinstance(s := _statistics(c), TableStatistics)]
    non_json = sum(s.not_json for s in stats)
    malformed = sum(s.malformed for s in stats) - non_json
    oversized = sum(s.oversized for s in stats)
    unknown = sum(s.unknown_replies for s in stats)
    content_type = sum(s.bad_content_type for s in stats)
    stdout_closed = any(getattr(c, "stdout_closed_early", False) for c in connections)
    stdin_closed = any(getattr(c, "stdin_closed_early", False) for c in connections)
    said: list[str] = []
    if non_json:
        if transport == "stdio":
            said.append(f"server wrote {_n(non_json, 'non-JSON line')} to stdout")
        else:
            said.append(f"server sent {_n(non_json, 'reply')} or SSE events that were not JSON")
    if malformed:
        said.append(f"server sent {_n(malformed, 'message')} that were JSON but not JSON-RPC")
    if oversized:
        said.append(
            f"{_n(oversized, 'reply')} exceeded the reply cap of {_size(max_reply_bytes)}"
            " (max_reply_bytes) and were refused unread"
        )
    if unknown:
        said.append(f"server sent {_n(unknown, 'reply')} to ids never sent")
    if content_type:
        said.append(
            f"server sent {_n(content_type, 'reply')} with a Content-Type other than"
            " application/json or text/event-stream"
        )
    if stdout_closed:
        said.append("server closed its stdout while still running; later requests failed")
    if stdin_closed:
        said.append("server closed its stdin while still running; later requests failed")
    failures: dict[str, int] = {}
    for connection in connections:
        tally = getattr(connection, "failures", None)
        for detail, count in getattr(tally, "counts", {}).items():
            failures[detail] = failures.get(detail, 0) + count
    if not said and not failures:
        return None
    return ProtocolNotes(
        non_json_lines=non_json,
        malformed=malformed,
        oversized_replies=oversized,
        unknown_replies=unknown,
        bad_content_type=content_type,
        stdout_closed=stdout_closed,
        stdin_closed=stdin_closed,
        violations=said,
        transport_errors=dict(sorted(failures.items(), key=lambda item: -item[1])),
    )


def _statistics(connection: object) -> object:
    statistics = getattr(connection, "statistics", None)
    return statistics() if callable(statistics) else None


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _size(value: int) -> str:
    mib = 1024 * 1024
    if value % mib == 0:
        return f"{value // mib} MiB"
    if value % 1024 == 0:
        return f"{value // 1024} KiB"
    return f"{value} bytes"
