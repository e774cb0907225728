"""Charts as inline SVG, drawn from data: line, area and step series on linear or log axes,
with a legend, vertical markers and shaded bands; and horizontal (stacked) bar charts.

Pure functions from data to an SVG string. Every text is escaped here, so a server's or a
config's words can never become markup. Colours are palette slots ("c1"…"c8") that the page's
CSS themes for light, dark and print; the attributes carry the light colours too, so an SVG
read on its own still shows them. A series longer than the plot is wide keeps the first, the
lowest, the highest and the last point of each pixel column: the file stays small however
long the run, and a one-second spike is never smoothed away.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from typing import Literal

from readiness.reports.chart_scales import Axis, Scale, extent, number, tick_values

__all__ = [
    "PALETTE",
    "WIDTH",
    "Axis",
    "Band",
    "Bar",
    "Marker",
    "Point",
    "Segment",
    "Series",
    "Span",
    "Style",
    "bar_chart",
    "color",
    "decimate",
    "number",
    "text",
    "xy_chart",
]

WIDTH = 600
FONT = 12  # px in the SVG's own units
CHAR_W = 6.6  # a rough mean advance of a FONT-sized sans-serif character
LINE_H = 16
PALETTE = (
    "#0969da",  # c1 blue
    "#bf3989",  # c2 magenta
    "#1a7f37",  # c3 green
    "#cf222e",  # c4 red
    "#9a6700",  # c5 amber
    "#8250df",  # c6 purple
    "#57606a",  # c7 grey
    "#0a7d85",  # c8 teal
)

Style = Literal["line", "step", "area", "step_area", "dots"]
Point = tuple[float, float | None]


@dataclass(frozen=True)
class Series:
    """One named line; a y of None is a gap. `dots` marks each point, for short series."""

    name: str
    points: Sequence[Point]
    color: int = 1
    style: Style = "line"
    axis: Literal["left", "right"] = "left"
    dashed: bool = False
    dots: bool = False


@dataclass(frozen=True)
class Span:
    """A shaded range between a low and a high line (an interval), drawn under the series."""

    name: str
    points: Sequence[tuple[float, float, float]]  # x, low, high
    color: int = 1
    axis: Literal["left", "right"] = "left"


@dataclass(frozen=True)
class Marker:
    """A labelled vertical line at x: an event on a timeline, a knee on a curve."""

    x: float
    label: str
    color: int = 7


@dataclass(frozen=True)
class Band:
    """A shaded x range (a phase); named in the legend."""

    start: float
    end: float
    name: str
    color: int = 7


def text(value: object) -> str:
    """Escaped for SVG text and attribute values alike."""
    return escape(str(value), quote=True)


def color(slot: int) -> str:
    return PALETTE[(slot - 1) % len(PALETTE)]


# -- decimation -----------------------------------------------------------------------------


def _runs(points: Sequence[Point]) -> list[list[tuple[float, float]]]:
    """The series split at its gaps (None) into runs of present points."""
    runs: list[list[tuple[float, float]]] = [[]]
    for x, y in points:
        if y is None or not math.isfinite(y):
            if runs[-1]:
                runs.append([])
        else:
            runs[-1].append((x, y))
    return [r for r in runs if r]


def decimate(pixels: Sequence[tuple[float, float]], columns: int) -> list[tuple[float, float]]:
    """Pixel points thinned to the first, lowest, highest and last point of each column."""
    if len(pixels) <= 2 * columns:
        return list(pixels)
    kept: list[tuple[float, float]] = []
    for _, group in itertools.groupby(pixels, key=lambda p: math.floor(p[0])):
        column = list(group)
        ys = [y for _, y in column]
        chosen = {0, len(column) - 1, ys.index(min(ys)), ys.index(max(ys))}
        kept.extend(column[i] for i in sorted(chosen))
    return kept


def _path(pixels: Sequence[tuple[float, float]], step: bool) -> str:
    parts = []
    previous_y: float | None = None
    for i, (x, y) in enumerate(pixels):
        if i == 0:
            parts.append(f"M{x:.1f} {y:.1f}")
        elif step and previous_y is not None:
            parts.append(f"H{x:.1f}V{y:.1f}")
        else:
            parts.append(f"L{x:.1f} {y:.1f}")
        previous_y = y
    return "".join(parts)


# -- legend ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Key:
    name: str
    color: int
    shape: Literal["line", "dash", "box", "solid"]


def _text_width(value: str, size: float = FONT) -> float:
    return len(value) * CHAR_W * size / FONT


def _legend(keys: Sequence[_Key], x0: float, y0: float, width: float) -> tuple[list[str], float]:
    """The legend's SVG elements, wrapped to `width`, and the height it takes."""
    out: list[str] = []
    x, y = x0, y0
    for key in keys:
        item = 22 + _text_width(key.name) + 14
        if x > x0 and x + item > x0 + width:
            x, y = x0, y + LINE_H
        c, mid = color(key.color), y + LINE_H / 2
        if key.shape in ("box", "solid"):
            opacity = ' fill-opacity="0.25"' if key.shape == "box" else ""
            swatch = (
                f'<rect x="{x:.1f}" y="{mid - 5:.1f}" width="16" height="10" '
                f'class="{key.shape} c{key.color}" fill="{c}"{opacity}/>'
            )
        else:
            dash = ' stroke-dasharray="4 3"' if key.shape == "dash" else ""
            swatch = (
                f'<path d="M{x:.1f} {mid:.1f}h16" class="key c{key.color}" stroke="{c}" '
                f'stroke-width="2.5"{dash}/>'
            )
        out.append(swatch)
        out.append(f'<text x="{x + 22:.1f}" y="{mid + 4:.1f}">{text(key.name)}</text>')
        x += item
    return out, (y - y0 + LINE_H) if keys else 0.0


# -- the x/y chart --------------------------------------------------------------------------


def xy_chart(
    title: str,
    x: Axis,
    y: Axis,
    series: Sequence[Series],
    *,
    y2: Axis | None = None,
    spans: Sequence[Span] = (),
    markers: Sequence[Marker] = (),
    bands: Sequence[Band] = (),
    height: int = 300,
    width: int = WIDTH,
) -> str:
    """A line/area/step chart with axes, a legend, markers and bands, as one <svg> element."""
    keys = [
        *(_Key(s.name, s.color, "dash" if s.dashed else "line") for s in series),
        *(_Key(s.name, s.color, "box") for s in spans),
        *(_Key(b.name, b.color, "box") for b in _unique_bands(bands)),
    ]
    left, right = 64.0, (64.0 if y2 is not None else 18.0)
    sx, x_labels = _x_scale(x, series, spans, markers, bands, left, width - right)
    legend, legend_h = _legend(keys, left, 6, width - left - right)
    rows = _marker_rows(markers, sx)
    top = 10 + legend_h + 8 + LINE_H * (max(rows, default=-1) + 1)
    bottom = height - 44.0

    scales: dict[str, tuple[Scale, list[tuple[float, str]]]] = {}
    for side, axis in (("left", y), ("right", y2)):
        if axis is None:
            continue
        values = [v for s in series if s.axis == side for _, v in s.points if v is not None]
        values += [v for s in spans if s.axis == side for _, lo, hi in s.points for v in (lo, hi)]
        values = [v for v in values if math.isfinite(v)]
        lo, hi = extent(values, axis)
        count = max(3, int((bottom - top) / 50))
        lo, hi, ticks = tick_values(lo, hi, axis, count)
        labels = (
            list(axis.ticks)
            if axis.ticks is not None
            else [(v, (axis.format or number)(v)) for v in ticks]
        )
        scales[side] = (Scale(lo, hi, bottom, top, axis.log), labels)

    out = [_open_svg(title, width, height), *legend]
    out.append(
        f'<g class="plot"><rect x="{left}" y="{top:.1f}" width="{width - left - right}" '
        f'height="{bottom - top:.1f}" class="frame" fill="none" stroke="#d1d9e0"/>'
    )
    for band in bands:
        x0, x1 = sx(max(band.start, sx.low)), sx(min(band.end, sx.high))
        if x1 >= x0 and band.end > band.start:
            x1 = max(x1, x0 + 1.5)  # a few milliseconds still show
            out.append(
                f'<rect x="{x0:.1f}" y="{top:.1f}" width="{x1 - x0:.1f}" '
                f'height="{bottom - top:.1f}" class="band c{band.color}" '
                f'fill="{color(band.color)}" fill-opacity="0.1">'
                f"<title>{text(band.name)}</title></rect>"
            )
    out.extend(_grid_andtick_values(sx, scales, x_labels, left, right, top, bottom, width))
    out.append(_axis_labels(x, y, y2, left, right, top, bottom, width, height))
    columns = int(width - left - right)
    for span in spans:
        scale = scales.get(span.axis, scales["left"])[0]
        upper = [(sx(px), scale(hi)) for px, _, hi in span.points]
        lower = [(sx(px), scale(lo)) for px, lo, _ in reversed(span.points)]
        if upper:
            d = _path([*upper, *lower], step=False) + "Z"
            out.append(
                f'<path d="{d}" class="mark span c{span.color}" fill="{color(span.color)}" '
                f'fill-opacity="0.2" stroke="none"/>'
            )
    for s in series:
        out.extend(_series_marks(s, sx, scales.get(s.axis, scales["left"])[0], bottom, columns))
    for m, row in zip(markers, rows, strict=True):
        mx = sx(m.x)
        ty = top - 6 - LINE_H * row
        out.append(
            f'<path d="M{mx:.1f} {ty + 4:.1f}V{bottom:.1f}" class="marker c{m.color}" '
            f'stroke="{color(m.color)}" stroke-width="1.5" stroke-dasharray="3 3"/>'
            f'<text x="{mx + 3:.1f}" y="{ty:.1f}" class="marker-label">{text(m.label)}</text>'
        )
    out.append("</g></svg>")
    return "".join(out)


def _unique_bands(bands: Sequence[Band]) -> list[Band]:
    seen: dict[str, Band] = {}
    for band in bands:
        seen.setdefault(band.name, band)
    return list(seen.values())


def _x_scale(
    x: Axis,
    series: Sequence[Series],
    spans: Sequence[Span],
    markers: Sequence[Marker],
    bands: Sequence[Band],
    start: float,
    end: float,
) -> tuple[Scale, list[tuple[float, str]]]:
    xs = [p[0] for s in series for p in s.points] + [p[0] for s in spans for p in s.points]
    xs += [m.x for m in markers] + [v for b in bands for v in (b.start, b.end)]
    xs = [v for v in xs if math.isfinite(v)] or [0.0, 1.0]
    low, high = extent(xs, x)
    if not x.log and x.low is None:
        # Time and counts start at zero unless the data sits far from it.
        low = 0.0 if min(xs) >= 0 and min(xs) <= 0.1 * max(xs) else min(xs)
        high = max(high, low + 1e-9)
    if x.ticks is not None:
        return Scale(low, high, start, end, x.log), list(x.ticks)
    low, high, ticks = tick_values(low, high, x, max(2, int((end - start) / 90)))
    return Scale(low, high, start, end, x.log), [(v, (x.format or number)(v)) for v in ticks]


def _marker_rows(markers: Sequence[Marker], sx: Scale) -> list[int]:
    """A row for each marker's label (0 nearest the plot) so neighbours never overlap."""
    ends: list[float] = []
    rows = [0] * len(markers)
    for i in sorted(range(len(markers)), key=lambda i: markers[i].x):
        begin = sx(markers[i].x)
        row = next((r for r, last in enumerate(ends) if last < begin), len(ends))
        if row == len(ends):
            ends.append(0.0)
        ends[row] = begin + 3 + _text_width(markers[i].label) + 6
        rows[i] = row
    return rows


def _series_marks(s: Series, sx: Scale, sy: Scale, bottom: float, columns: int) -> list[str]:
    c = color(s.color)
    dash = ' stroke-dasharray="6 4"' if s.dashed else ""
    out: list[str] = []
    for run in _runs(s.points):
        pixels = [(sx(px), sy(py)) for px, py in run]
        thinned = decimate(pixels, columns)
        stepped = s.style in ("step", "step_area")
        step = stepped and len(thinned) == len(pixels)
        if stepped and len(pixels) == 1:
            pixels = thinned = [pixels[0], (pixels[0][0] + 2, pixels[0][1])]
        d = _path(thinned, step)
        if s.style in ("area", "step_area") and len(thinned) > 1:
            base = f"V{bottom:.1f}H{thinned[0][0]:.1f}Z"
            out.append(
                f'<path d="{d}{base}" class="area c{s.color}" fill="{c}" '
                f'fill-opacity="0.13" stroke="none"/>'
            )
        if len(thinned) > 1 and s.style != "dots":
            out.append(
                f'<path d="{d}" class="mark line c{s.color}" fill="none" stroke="{c}" '
                f'stroke-width="1.8" stroke-linejoin="round"{dash}>'
                f"<title>{text(s.name)}</title></path>"
            )
        if s.dots or s.style == "dots" or len(thinned) == 1:
            out.extend(
                f'<circle cx="{px:.1f}" cy="{py:.1f}" r="3" class="mark dot c{s.color}" '
                f'fill="{c}"/>'
                for px, py in thinned
            )
    return out


def _grid_andtick_values(
    sx: Scale,
    scales: dict[str, tuple[Scale, list[tuple[float, str]]]],
    x_labels: Sequence[tuple[float, str]],
    left: float,
    right: float,
    top: float,
    bottom: float,
    width: float,
) -> list[str]:
    out = []
    for value, label in x_labels:
        px = sx(value)
        if left - 0.5 <= px <= width - right + 0.5:
            out.append(
                f'<path d="M{px:.1f} {top:.1f}V{bottom:.1f}" class="grid" stroke="#d1d9e0" '
                f'stroke-width="0.6"/><text x="{px:.1f}" y="{bottom + 15:.1f}" '
                f'text-anchor="middle">{text(label)}</text>'
            )
    for side, (scale, labels) in scales.items():
        for value, label in labels:
            py = scale(value)
            if not top - 0.5 <= py <= bottom + 0.5:
                continue
            if side == "left":
                out.append(
                    f'<path d="M{left:.1f} {py:.1f}H{width - right:.1f}" class="grid" '
                    f'stroke="#d1d9e0" stroke-width="0.6"/>'
                )
                out.append(
                    f'<text x="{left - 6:.1f}" y="{py + 4:.1f}" text-anchor="end">'
                    f"{text(label)}</text>"
                )
            else:
                out.append(
                    f'<text x="{width - right + 6:.1f}" y="{py + 4:.1f}">{text(label)}</text>'
                )
    return out


def _axis_labels(
    x: Axis,
    y: Axis,
    y2: Axis | None,
    left: float,
    right: float,
    top: float,
    bottom: float,
    width: float,
    height: float,
) -> str:
    mid_y = (top + bottom) / 2
    out = [
        f'<text x="{(left + width - right) / 2:.1f}" y="{height - 8:.1f}" text-anchor="middle" '
        f'class="axis-label">{text(x.label)}</text>',
        f'<text transform="translate(14 {mid_y:.1f}) rotate(-90)" text-anchor="middle" '
        f'class="axis-label">{text(y.label)}</text>',
    ]
    if y2 is not None:
        out.append(
            f'<text transform="translate({width - 8:.1f} {mid_y:.1f}) rotate(-90)" '
            f'text-anchor="middle" class="axis-label">{text(y2.label)}</text>'
        )
    return "".join(out)


def _open_svg(title: str, width: float, height: float) -> str:
    return (
        f'<svg class="chart" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'role="img" font-size="{FONT}" font-family="system-ui, sans-serif" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{text(title)}</title>'
    )


# -- horizontal bars ------------------------------------------------------------------------


@dataclass(frozen=True)
class Segment:
    name: str  # the legend's name for this part of the bar
    value: float
    color: int


@dataclass(frozen=True)
class Bar:
    """One row: a label, stacked segments (possibly none), and a note after the bar."""

    label: str
    segments: Sequence[Segment]
    note: str = ""


def bar_chart(
    title: str,
    axis: Axis,
    bars: Sequence[Bar],
    *,
    legend: bool = True,
    width: int = WIDTH,
) -> str:
    """Horizontal bars, stacked when a row has several segments, with a value axis below."""
    keys: list[_Key] = []
    if legend:
        names: dict[str, int] = {}
        for bar in bars:
            for seg in bar.segments:
                if seg.value > 0:  # a part no bar has would only clutter the legend
                    names.setdefault(seg.name, seg.color)
        keys = [_Key(name, slot, "solid") for name, slot in names.items()]
    label_w = min(max((_text_width(b.label) for b in bars), default=0) + 12, width * 0.4)
    note_w = min(max((_text_width(b.note) for b in bars), default=0) + 10, width * 0.3)
    left, right = label_w + 4, note_w + 8
    legend_parts, legend_h = _legend(keys, left, 6, width - left - right)
    top = 10 + legend_h + 6
    row_h = 26
    bottom = top + row_h * len(bars)
    height = bottom + 40
    totals = [sum(s.value for s in b.segments) for b in bars]
    low, high = extent(totals, axis)
    low, high, ticks = tick_values(low, high, axis, max(2, int((width - left - right) / 80)))
    sx = Scale(low, high, left, width - right, axis.log)
    labels = (
        list(axis.ticks)
        if axis.ticks is not None
        else [(v, (axis.format or number)(v)) for v in ticks]
    )

    out = [_open_svg(title, width, height), *legend_parts, '<g class="plot">']
    out.extend(_grid_andtick_values(sx, {}, labels, left, right, top, bottom, width))
    out.append(
        f'<text x="{(left + width - right) / 2:.1f}" y="{height - 8:.1f}" '
        f'text-anchor="middle" class="axis-label">{text(axis.label)}</text>'
    )
    for i, bar in enumerate(bars):
        y0 = top + i * row_h + 4
        out.append(
            f'<text x="{left - 8:.1f}" y="{y0 + 13:.1f}" text-anchor="end">'
            f"{text(_clip(bar.label, label_w))}</text>"
        )
        start = low
        for seg in bar.segments:
            if seg.value <= 0:
                continue
            x0, x1 = sx(start), sx(start + seg.value)
            out.append(
                f'<rect x="{x0:.1f}" y="{y0:.1f}" width="{max(x1 - x0, 0.8):.1f}" height="18" '
                f'class="mark bar c{seg.color}" fill="{color(seg.color)}">'
                f"<title>{text(seg.name)}: {text(number(seg.value))}</title></rect>"
            )
            start += seg.value
        if bar.note:
            out.append(
                f'<text x="{sx(start) + 6:.1f}" y="{y0 + 13:.1f}" class="bar-note">'
                f"{text(bar.note)}</text>"
            )
    out.append("</g></svg>")
    return "".join(out)


def _clip(label: str, width: float) -> str:
    room = int(width / CHAR_W) - 1
    return label if len(label) <= room else label[: max(room - 1, 1)] + "…"
