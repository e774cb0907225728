"""The two-way call graph of a scenario, as inline SVG: per operation, a small sequence diagram
between the client and the server — the call, each kind of request the server sent back (with
how many per call and the simulated client's time), 2026 input-required retries, and the
result with the end-to-end and server times."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from readiness.reports.charts import FONT, WIDTH, color, text

_LEFT = 150  # the client's lifeline
_RIGHT = WIDTH - 40  # the server's
_STEP = 20  # between two arrows
_HEAD = 26  # an operation's title row
_GAP = 10  # between operations
_TO_SERVER, _TO_CLIENT = 1, 2  # palette slots


def _ms(value: object) -> str:
    return "–" if not isinstance(value, int | float) else f"{value:.3g} ms"


def _arrow(y: float, to_server: bool, label: str, note: str = "") -> str:
    x0, x1 = (_LEFT, _RIGHT) if to_server else (_RIGHT, _LEFT)
    slot = _TO_SERVER if to_server else _TO_CLIENT
    tip = x1 - 6 if to_server else x1 + 6
    head = f"{x1},{y} {tip},{y - 4} {tip},{y + 4}"
    mid = (_LEFT + _RIGHT) / 2
    shown = f"{label} · {note}" if note else label
    return (
        f'<line x1="{x0}" y1="{y}" x2="{x1}" y2="{y}" stroke="{color(slot)}" stroke-width="1.5"/>'
        f'<polygon points="{head}" fill="{color(slot)}"/>'
        f'<text x="{mid}" y="{y - 4}" text-anchor="middle">{text(shown)}</text>'
    )


def _operation_rows(o: Mapping[str, Any]) -> list[tuple[bool, str, str]]:
    """(to the server?, label, note) of each arrow of one operation."""
    calls = int(o.get("calls", 0))
    failed = sum(o.get("failed", {}).values())
    first = f"{o['operation']} ×{calls}" + (f" (+{failed} failed)" if failed else "")
    rows: list[tuple[bool, str, str]] = [(True, first, "")]
    client_p50 = o.get("client_ms", {}).get("p50")
    for method, count in sorted(o.get("methods", {}).items()):
        per_call = f"{count / calls:.2g} per call" if calls else f"{count}"
        rows.append((False, method, per_call))
        rows.append((True, "answer", f"client P50 {_ms(client_p50)}"))
    rounds = int(o.get("input_rounds", 0))
    if rounds:
        per_call = f"{rounds / calls:.2g} per call" if calls else f"{rounds}"
        rows.append((False, "input required", per_call))
        rows.append((True, "retry with inputResponses", ""))
    e2e = o.get("end_to_end_ms", {}).get("p50")
    server = o.get("server_ms", {}).get("p50")
    rows.append((False, "result", f"end-to-end P50 {_ms(e2e)}, server P50 {_ms(server)}"))
    return rows


def call_graph(s: Mapping[str, Any]) -> str:
    """The diagram for scenario `s`'s two-way block; "" when it has no operation."""
    two_way = s.get("two_way")
    operations = two_way.get("operations", []) if isinstance(two_way, Mapping) else []
    if not operations:
        return ""
    blocks = [(o, _operation_rows(o)) for o in operations]
    height = sum(_HEAD + len(rows) * _STEP + _GAP for _, rows in blocks) + 8
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" '
        f'role="img" font-size="{FONT}" font-family="system-ui, sans-serif" '
        f'xmlns="http://www.w3.org/2000/svg"><title>Two-way call graph per operation</title>'
    ]
    y = 4.0
    for o, rows in blocks:
        bottom = y + _HEAD + len(rows) * _STEP
        parts.append(f'<text x="4" y="{y + FONT}" font-weight="bold">{text(o["operation"])}</text>')
        for x, who in ((_LEFT, "client"), (_RIGHT, "server")):
            parts.append(
                f'<text x="{x}" y="{y + FONT}" text-anchor="middle">{who}</text>'
                f'<line x1="{x}" y1="{y + FONT + 4}" x2="{x}" y2="{bottom}" stroke="#999" '
                f'stroke-dasharray="3 3"/>'
            )
        for i, (to_server, label, note) in enumerate(rows):
            parts.append(_arrow(y + _HEAD + (i + 0.5) * _STEP + 4, to_server, label, note))
        y = bottom + _GAP
    parts.append("</svg>")
    return "".join(parts)
