"""A strip of the target's health probes over time, as inline SVG: one row per probe, coloured
by what each poll said (up, down, unreachable), with the outage's events as vertical lines."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from readiness.reports.charts import FONT, WIDTH, color, text

# palette slots: up green, down red, unreachable grey
_STATE_SLOT = {"up": 3, "down": 4, "unreachable": 7}
_EVENTS = ("inject", "restore", "first_success", "recovered")
_ROW = 18
_GAP = 6
_LEFT = 80
_RIGHT = 10


def health_strip(s: Mapping[str, Any]) -> str:
    """The strip for scenario `s`'s health block; "" when there is nothing to draw."""
    health = s.get("health")
    if not health or not health.get("transitions"):
        return ""
    transitions = health["transitions"]
    probes = [p["probe"] for p in health["probes"]]
    start, end = (float(v) for v in health["polled_s"])
    if end <= start:
        return ""
    chaos = s.get("chaos") or {}
    events = [e for e in chaos.get("events", []) if e["what"] in _EVENTS]
    label_rows = min(len(events), 3)
    top = 8 + label_rows * (FONT + 2)
    height = top + len(probes) * (_ROW + _GAP) + FONT + 14
    plot = WIDTH - _LEFT - _RIGHT

    def x(t: float) -> float:
        return _LEFT + (min(max(t, start), end) - start) / (end - start) * plot

    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" '
        f'role="img" font-size="{FONT}" font-family="system-ui, sans-serif" '
        f'xmlns="http://www.w3.org/2000/svg"><title>Health probes over time</title>'
    ]
    for row, probe in enumerate(probes):
        y = top + row * (_ROW + _GAP)
        parts.append(
            f'<text x="{_LEFT - 6}" y="{y + _ROW - 5}" text-anchor="end">{text(probe)}</text>'
        )
        mine = [t for t in transitions if t["probe"] == probe]
        for i, t in enumerate(mine):
            until = mine[i + 1]["t_s"] if i + 1 < len(mine) else end
            slot = _STATE_SLOT.get(t["state"], 7)
            x0, x1 = x(t["t_s"]), x(until)
            parts.append(
                f'<rect x="{x0:.1f}" y="{y}" width="{max(x1 - x0, 0.5):.1f}" height="{_ROW}" '
                f'class="c{slot}" fill="{color(slot)}" fill-opacity="0.75">'
                f"<title>{text(probe)} {text(t['state'])} from {t['t_s']:.3f} s: "
                f"{text(t['detail'])}</title></rect>"
            )
    bottom = top + len(probes) * (_ROW + _GAP)
    for i, e in enumerate(events):
        ex = x(e["t_s"])
        label_y = 8 + (i % max(label_rows, 1)) * (FONT + 2) + FONT - 2  # close events: staggered
        parts.append(
            f'<path d="M{ex:.1f} {label_y + 2}V{bottom - _GAP}" class="marker c7" '
            f'stroke="#57606a" stroke-dasharray="3 3"><title>{text(e["what"])} at '
            f"{e['t_s']:.3f} s: {text(e['detail'])}</title></path>"
            f'<text x="{ex + 2:.1f}" y="{label_y}" font-size="{FONT - 2}">'
            f"{text(e['what'].replace('_', ' '))}</text>"
        )
    parts.append(
        f'<text x="{_LEFT}" y="{bottom + FONT}">{round(start, 1) or 0.0:.1f} s</text>'
        f'<text x="{WIDTH - _RIGHT}" y="{bottom + FONT}" text-anchor="end">{end:.1f} s</text>'
    )
    kx = _LEFT + plot / 2 - 110
    for state, slot in _STATE_SLOT.items():
        parts.append(
            f'<rect x="{kx:.1f}" y="{bottom + 3}" width="10" height="10" class="c{slot}" '
            f'fill="{color(slot)}" fill-opacity="0.75"/>'
            f'<text x="{kx + 14:.1f}" y="{bottom + FONT}">{state}</text>'
        )
        kx += 28 + len(state) * 7
    parts.append("</svg>")
    return "".join(parts)
