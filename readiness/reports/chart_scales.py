"""Chart axes: a quantity's extent, its scale (linear or log) onto pixels, and its ticks.

Linear axes start at zero unless told otherwise and end on a round tick; log axes span the data
(widened to whole decades when it is narrower than a factor of three), ticked 1-2-5 over two
decades or less, at powers of ten beyond.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

Format = Callable[[float], str]


@dataclass(frozen=True)
class Axis:
    """`label` names the quantity and its unit. `ticks` overrides the computed ones."""

    label: str
    log: bool = False
    low: float | None = None
    high: float | None = None
    ticks: Sequence[tuple[float, str]] | None = None
    format: Format | None = None


def number(value: float) -> str:
    """A tick label: short, no trailing zeros, thousands grouped."""
    magnitude = abs(value)
    if magnitude >= 1e6:
        return f"{value / 1e6:g}M"
    if magnitude >= 1e4:
        return f"{value / 1e3:g}k"
    if magnitude >= 100 or value == int(value):
        return f"{value:,.0f}"
    return f"{value:.3g}"


@dataclass(frozen=True)
class Scale:
    low: float
    high: float
    start: float  # pixel of `low`
    end: float  # pixel of `high`
    log: bool

    def __call__(self, value: float) -> float:
        if self.log:
            value = math.log10(max(value, self.low))
            low, high = math.log10(self.low), math.log10(self.high)
        else:
            low, high = self.low, self.high
        return self.start + (value - low) / (high - low) * (self.end - self.start)


def extent(values: Sequence[float], axis: Axis) -> tuple[float, float]:
    if axis.log:
        present = [v for v in values if v > 0]
        low = axis.low or (min(present) if present else 1.0)
        high = axis.high or (max(present) if present else 10.0)
        low = max(low, 1e-300)  # log10 stays finite; then high, so it is never below low
        high = min(max(high, low), 1e300)
        if high / low < 3:  # too narrow for a log axis to show anything: widen to decades
            low = 10.0 ** math.floor(math.log10(low))
            high = 10.0 ** math.ceil(math.log10(high * 1.0001))
        return low, high
    low = axis.low if axis.low is not None else min([0.0, *values])
    high = axis.high if axis.high is not None else max([0.0, *values])
    if high <= low:
        high = low + 1
    return low, high


def _nice_step(span: float, count: int) -> float:
    raw = span / max(count, 1)
    if not raw > 1e-300:  # a span too small to divide (denormals): one unit will do
        return 1.0
    power = 10 ** math.floor(math.log10(raw))
    return float(next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw))


def tick_values(
    low: float, high: float, axis: Axis, count: int
) -> tuple[float, float, list[float]]:
    """Tick values, with the extent widened to the outer ticks on a linear axis."""
    if axis.log:
        first, last = math.floor(math.log10(low)), math.ceil(math.log10(high))
        every = max(1, math.ceil((last - first) / count))
        steps = (1, 2, 5) if last - first <= 2 else (1,)
        ticks = [m * 10.0**k for k in range(first, last + 1, every) for m in steps]
        return low, high, [t for t in ticks if low * 0.999 <= t <= high * 1.001]
    step = _nice_step(high - low, count)
    start = math.floor(low / step) * step if axis.low is None else low
    end = math.ceil(high / step - 1e-9) * step if axis.high is None else high
    if end <= start:
        end = start + step
    ticks = []
    k = math.ceil(start / step - 1e-9)
    while k * step <= end + step * 1e-9:
        ticks.append(k * step)
        k += 1
    return start, end, ticks
