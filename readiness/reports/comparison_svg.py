"""The comparison's forest plot as inline SVG: each figure's relative change with its 95%
interval, over the band its tolerance allows. Text is escaped; nothing is fetched."""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

from readiness.compare.model import ComparisonRow
from readiness.reports.comparison_format import figure_name, plotted, where_text

_COLOURS = {
    "regressed": "#cf222e",
    "improved": "#1a7f37",
    "unchanged": "#59636e",
    "not_comparable": "#9a6700",
}
_LABEL_W = 360
_PLOT_W = 480
_ROW_H = 18
_TOP = 24
_CAP = 2.0  # changes beyond ±200% are drawn at the edge, with an arrow


def _span(rows: Sequence[ComparisonRow]) -> float:
    edges = [0.1]
    for row in rows:
        edges.append(abs(row["delta_relative"] or 0.0))
        edges.append(row["tolerance"] if row["metric"] != "success_rate" else 0.0)
        if row["interval"] is not None:
            edges.extend(abs(v) for v in row["interval"])
    return min(max(edges) * 1.1, _CAP)


def forest_svg(rows: Sequence[ComparisonRow]) -> Markup:
    """An SVG forest plot of `rows` (those with a relative change); empty markup if none."""
    shown = plotted(rows)
    if not shown:
        return Markup("")
    span = _span(shown)
    height = _TOP + _ROW_H * len(shown) + 8

    def x(value: float) -> float:
        clipped = max(-span, min(span, value))
        return round(_LABEL_W + (clipped + span) / (2 * span) * _PLOT_W, 1)

    parts = [
        f'<svg class="forest" viewBox="0 0 {_LABEL_W + _PLOT_W + 10} {height}" '
        f'width="{_LABEL_W + _PLOT_W + 10}" height="{height}" role="img" '
        'aria-label="Relative change of each figure with its 95% interval and tolerance band" '
        'font-family="system-ui, sans-serif" font-size="11">',
    ]
    for tick in (-span, -span / 2, 0.0, span / 2, span):
        parts.append(
            f'<line x1="{x(tick)}" y1="{_TOP - 6}" x2="{x(tick)}" y2="{height - 4}" '
            f'stroke="{"#59636e" if tick == 0 else "#d1d9e0"}" stroke-width="1"/>'
            f'<text x="{x(tick)}" y="{_TOP - 10}" text-anchor="middle" fill="#59636e">'
            f"{tick * 100:+.0f}%</text>"
        )
    for i, row in enumerate(shown):
        y = _TOP + i * _ROW_H + _ROW_H / 2
        colour = _COLOURS[row["verdict"]]
        label = escape(f"{where_text(row)} · {figure_name(row['metric'])}")
        parts.append(
            f'<text x="{_LABEL_W - 6}" y="{y + 4}" text-anchor="end" fill="#1f2328">{label}</text>'
        )
        if row["metric"] != "success_rate":
            tol = row["tolerance"]
            parts.append(
                f'<rect x="{x(-tol)}" y="{y - 6}" width="{round(x(tol) - x(-tol), 1)}" height="12" '
                'fill="#d1d9e0" fill-opacity="0.5"/>'
            )
        if row["interval"] is not None:
            low, high = row["interval"]
            parts.append(
                f'<line x1="{x(low)}" y1="{y}" x2="{x(high)}" y2="{y}" stroke="{colour}" '
                'stroke-width="2"/>'
            )
        change = row["delta_relative"] or 0.0
        title = escape(f"{figure_name(row['metric'])}: {row['reason']}")
        parts.append(
            f'<circle cx="{x(change)}" cy="{y}" r="4" fill="{colour}">'
            f"<title>{title}</title></circle>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))
