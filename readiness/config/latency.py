"""Latency distributions in configuration: `fixed:2ms`, `uniform:1ms..5ms` and
`lognormal:median=3ms,p99=40ms`, with durations in the grammar of readiness.config.units.

Shared by the latency fault and the demo server's `--latency` knob; raises ValueError with an
example, like every parser in readiness.config.units.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Final

from readiness.config.units import format_duration, parse_duration

# z-score of the 99th percentile of a standard normal: p99 = median * exp(Z99 * sigma).
Z99: Final = 2.3263

LATENCY_HINT: Final = (
    "expected fixed:2ms, uniform:1ms..5ms or lognormal:median=3ms,p99=40ms"
    " (durations such as 500us, 2ms or 1.5s; a bare number means seconds)"
)


@dataclass(frozen=True)
class FixedLatency:
    """Every call waits exactly `seconds`."""

    seconds: float

    def sample(self, rng: random.Random) -> float:
        return self.seconds

    def __str__(self) -> str:
        return f"fixed:{format_duration(self.seconds)}"


@dataclass(frozen=True)
class UniformLatency:
    """Each call waits a uniformly drawn time in [low, high]."""

    low: float
    high: float

    def sample(self, rng: random.Random) -> float:
        return rng.uniform(self.low, self.high)

    def __str__(self) -> str:
        return f"uniform:{format_duration(self.low)}..{format_duration(self.high)}"


@dataclass(frozen=True)
class LognormalLatency:
    """A long-tailed wait: log-normal with the given median and 99th percentile."""

    median: float
    p99: float

    @property
    def sigma(self) -> float:
        return math.log(self.p99 / self.median) / Z99

    def sample(self, rng: random.Random) -> float:
        return rng.lognormvariate(math.log(self.median), self.sigma)

    def __str__(self) -> str:
        return f"lognormal:median={format_duration(self.median)},p99={format_duration(self.p99)}"


Latency = FixedLatency | UniformLatency | LognormalLatency


def parse_latency(spec: str) -> Latency:
    """Parse `fixed:2ms`, `uniform:1ms..5ms` or `lognormal:median=3ms,p99=40ms`."""
    kind, sep, rest = spec.strip().partition(":")
    if not sep:
        raise ValueError(f"{spec.strip()!r} is not a latency spec; {LATENCY_HINT}")
    try:
        if kind == "fixed":
            return FixedLatency(parse_duration(rest))
        if kind == "uniform":
            return _parse_uniform(rest)
        if kind == "lognormal":
            return _parse_lognormal(rest)
    except ValueError as exc:
        raise ValueError(f"{spec.strip()!r}: {exc}; {LATENCY_HINT}") from None
    raise ValueError(f"{spec.strip()!r}: unknown distribution {kind!r}; {LATENCY_HINT}")


def _parse_uniform(rest: str) -> UniformLatency:
    low_text, sep, high_text = rest.partition("..")
    if not sep:
        raise ValueError("uniform needs LOW..HIGH")
    low, high = parse_duration(low_text), parse_duration(high_text)
    if low > high:
        raise ValueError("uniform LOW is greater than HIGH")
    return UniformLatency(low, high)


def _parse_lognormal(rest: str) -> LognormalLatency:
    fields: dict[str, float] = {}
    for part in rest.split(","):
        key, sep, value = part.partition("=")
        key = key.strip()
        if not sep or key not in ("median", "p99") or key in fields:
            raise ValueError("lognormal needs median=DURATION,p99=DURATION")
        fields[key] = parse_duration(value)
    if set(fields) != {"median", "p99"}:
        raise ValueError("lognormal needs median=DURATION,p99=DURATION")
    median, p99 = fields["median"], fields["p99"]
    if median <= 0:
        raise ValueError("lognormal median must be above zero")
    if p99 < median:
        raise ValueError("lognormal p99 must not be below the median")
    return LognormalLatency(median, p99)
