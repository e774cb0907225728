"""Captures of real traffic: `readiness proxy --record FILE` writes each client request as a JSON
line (time, session, method, tool, params); `[workload] replay = "FILE"` reads them back.

A capture never holds a secret from the headers: only which headers were present. Session ids
are replaced by their order of appearance ("s1", "s2", …), and the protocol's own `_meta`
envelope is left out of params.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Literal

FORMAT = "readiness-capture"
VERSION = 1
# The handshake and lifecycle requests a replay does not send: its own connection makes them.
HANDSHAKE = frozenset({"initialize", "server/discover"})


class CaptureError(ValueError):
    """A capture file that is missing, unreadable, or not a readiness capture."""


class CaptureWriter:
    """Appends one JSON line per client request, flushed as it goes (a proxy may be killed)."""

    def __init__(self, path: str | Path, transport: Literal["stdio", "http"]) -> None:
        self.path = Path(path)
        self._file: IO[str] = self.path.open("w", encoding="utf-8")
        self._start = time.monotonic()
        self._sessions: dict[str, str] = {}
        self.requests = 0
        header = {
            "format": FORMAT,
            "version": VERSION,
            "transport": transport,
            "started_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
        }
        self._write(header)

    def request(
        self,
        message: Mapping[str, Any],
        *,
        session: str | None = None,
        headers: Iterable[str] | None = None,
    ) -> None:
        """Record one client request (a decoded JSON-RPC message with a method and an id)."""
        method = message.get("method")
        params = message.get("params")
        line: dict[str, Any] = {
            "t": round(time.monotonic() - self._start, 6),
            "session": self._session_label(session),
            "method": method,
        }
        if isinstance(params, dict):
            if method == "tools/call" and isinstance(params.get("name"), str):
                line["tool"] = params["name"]
            line["params"] = {k: v for k, v in params.items() if k != "_meta"}
        if headers is not None:
            line["headers"] = sorted({h.lower() for h in headers})
        self._write(line)
        self.requests += 1

    def _session_label(self, session: str | None) -> str:
        key = session or ""
        label = self._sessions.get(key)
        if label is None:
            label = self._sessions[key] = f"s{len(self._sessions) + 1}"
        return label

    def _write(self, data: Mapping[str, Any]) -> None:
        self._file.write(json.dumps(data, ensure_ascii=False, separators=(",", ":")) + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()

    def __repr__(self) -> str:
        return f"<CaptureWriter {self.path} requests={self.requests}>"


@dataclass(frozen=True)
class CapturedRequest:
    t: float  # seconds since the capture started
    session: str
    method: str
    params: dict[str, Any] | None

    @property
    def name(self) -> str:
        """The operation it counts under: the method, with the tool for tools/call."""
        if self.method == "tools/call" and self.params and isinstance(self.params.get("name"), str):
            return f"tools/call {self.params['name']}"
        return self.method


@dataclass(frozen=True)
class Capture:
    transport: str
    started_at: str
    requests: tuple[CapturedRequest, ...]  # the replayable ones, in order; handshakes left out

    @property
    def span_s(self) -> float:
        return self.requests[-1].t - self.requests[0].t if self.requests else 0.0

    def mix(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for r in self.requests:
            counts[r.name] = counts.get(r.name, 0) + 1
        return counts


def read_capture(path: Path, shown: str) -> Capture:
    """Read a capture (named `shown` in errors, which give its line)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CaptureError(f"{shown}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CaptureError(f"{shown}: cannot read the file: {exc}") from None
    lines = text.splitlines()
    header = _line(lines[0], shown, 1) if lines else None
    if header is None or header.get("format") != FORMAT:
        raise CaptureError(
            f"{shown} line 1: not a readiness capture (record one with readiness proxy --record)"
        )
    if header.get("version") != VERSION:
        raise CaptureError(f"{shown} line 1: capture version {header.get('version')!r}"
                           f" is not one this readiness reads ({VERSION})")  # fmt: skip
    requests: list[CapturedRequest] = []
    last_t = 0.0
    for number, raw in enumerate(lines[1:], start=2):
        if not raw.strip():
            continue
        line = _line(raw, shown, number)
        t, method, params = line.get("t"), line.get("method"), line.get("params")
        if (
            not isinstance(t, int | float)
            or isinstance(t, bool)
            or t < last_t
            or not isinstance(method, str)
            or not (params is None or isinstance(params, dict))
        ):
            raise CaptureError(
                f"{shown} line {number}: expected a request with t (seconds, not decreasing),"
                " method and params"
            )
        last_t = float(t)
        if method in HANDSHAKE:
            continue
        requests.append(CapturedRequest(float(t), str(line.get("session", "s1")), method, params))
    if not requests:
        raise CaptureError(f"{shown}: holds no request to replay (only the handshake, or none)")
    return Capture(str(header.get("transport")), str(header.get("started_at")), tuple(requests))


def _line(raw: str, shown: str, number: int) -> dict[str, Any]:
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise CaptureError(f"{shown} line {number}: not JSON ({exc})") from None
    if not isinstance(data, dict):
        raise CaptureError(f"{shown} line {number}: expected a JSON object")
    return data
