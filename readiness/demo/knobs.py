"""The demo server's knobs (latency, injected errors, leak, crash, blob cap) and their parsing.

Each knob comes from a command-line flag or a READINESS_DEMO_* variable; the flag wins.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final, TypeVar

from readiness.errors import ConfigError

_T = TypeVar("_T")

# z-score of the 99th percentile of a standard normal: p99 = median * exp(Z99 * sigma).
Z99: Final = 2.3263

_DURATION = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*(us|µs|ms|s)\s*")
_UNIT_SECONDS: Final = {"us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0}
_DURATION_HINT: Final = "a duration such as 500us, 2ms or 1.5s"
_LATENCY_HINT: Final = (
    "expected fixed:2ms, uniform:1ms..5ms or lognormal:median=3ms,p99=40ms "
    "(durations in us, ms or s)"
)


def parse_duration(text: str) -> float:
    """Seconds in `text` (`500us`, `2ms`, `1.5s`); a unit is required."""
    match = _DURATION.fullmatch(text)
    if match is None:
        raise ConfigError(f"{text.strip()!r} is not {_DURATION_HINT}")
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]


def format_duration(seconds: float) -> str:
    if seconds >= 1.0:
        return f"{seconds:g}s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:g}ms"
    return f"{seconds * 1e6:g}us"


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
        raise ConfigError(f"{spec.strip()!r} is not a latency spec; {_LATENCY_HINT}")
    try:
        if kind == "fixed":
            return FixedLatency(parse_duration(rest))
        if kind == "uniform":
            return _parse_uniform(rest)
        if kind == "lognormal":
            return _parse_lognormal(rest)
    except ConfigError as exc:
        raise ConfigError(f"{spec.strip()!r}: {exc.message}; {_LATENCY_HINT}") from None
    raise ConfigError(f"{spec.strip()!r}: unknown latency kind {kind!r}; {_LATENCY_HINT}")


def _parse_uniform(rest: str) -> UniformLatency:
    low_text, sep, high_text = rest.partition("..")
    if not sep:
        raise ConfigError("uniform needs LOW..HIGH")
    low, high = parse_duration(low_text), parse_duration(high_text)
    if low > high:
        raise ConfigError("uniform LOW is greater than HIGH")
    return UniformLatency(low, high)


def _parse_lognormal(rest: str) -> LognormalLatency:
    fields: dict[str, float] = {}
    for part in rest.split(","):
        key, sep, value = part.partition("=")
        key = key.strip()
        if not sep or key not in ("median", "p99") or key in fields:
            raise ConfigError("lognormal needs median=DURATION,p99=DURATION")
        fields[key] = parse_duration(value)
    if set(fields) != {"median", "p99"}:
        raise ConfigError("lognormal needs median=DURATION,p99=DURATION")
    median, p99 = fields["median"], fields["p99"]
    if median <= 0:
        raise ConfigError("lognormal median must be above zero")
    if p99 < median:
        raise ConfigError("lognormal p99 must not be below the median")
    return LognormalLatency(median, p99)


@dataclass(frozen=True)
class Knobs:
    """How the demo server misbehaves. The defaults make a well-behaved server.

    `crash_after` ends the whole process (os._exit), so give such a server a process of its own.
    """

    latency: Latency | None = None
    error_rate: float = 0.0
    leak_kb_per_call: int = 0
    crash_after: int | None = None
    max_blob_kb: int | None = None
    seed: int | None = None
    # at most this many tool calls wait out their latency at once; the rest queue, so with
    # fixed latency L the server serves at most max_concurrent / L calls per second
    max_concurrent: int | None = None

    def __post_init__(self) -> None:
        if not 0.0 <= self.error_rate <= 1.0:
            raise ConfigError(f"error rate {self.error_rate} is outside 0..1")
        if self.leak_kb_per_call < 0:
            raise ConfigError(f"leak per call {self.leak_kb_per_call} KiB is negative")
        if self.crash_after is not None and self.crash_after < 0:
            raise ConfigError(f"crash-after {self.crash_after} is negative")
        if self.max_blob_kb is not None and self.max_blob_kb < 0:
            raise ConfigError(f"max blob size {self.max_blob_kb} KiB is negative")
        if self.max_concurrent is not None and self.max_concurrent < 1:
            raise ConfigError(f"max concurrent calls {self.max_concurrent} is below 1")

    def as_json(self) -> dict[str, str | float | int | None]:
        return {
            "latency": None if self.latency is None else str(self.latency),
            "error_rate": self.error_rate,
            "leak_kb_per_call": self.leak_kb_per_call,
            "crash_after": self.crash_after,
            "max_blob_kb": self.max_blob_kb,
            "seed": self.seed,
            "max_concurrent": self.max_concurrent,
        }


@dataclass(frozen=True)
class KnobSource:
    """Where one knob can be set: its flag and its environment variable."""

    name: str
    flag: str
    env: str


KNOB_SOURCES: Final = (
    KnobSource("latency", "--latency", "READINESS_DEMO_LATENCY"),
    KnobSource("error_rate", "--error-rate", "READINESS_DEMO_ERROR_RATE"),
    KnobSource("leak_kb_per_call", "--leak-kb-per-call", "READINESS_DEMO_LEAK_KB_PER_CALL"),
    KnobSource("crash_after", "--crash-after", "READINESS_DEMO_CRASH_AFTER"),
    KnobSource("max_blob_kb", "--max-blob-kb", "READINESS_DEMO_MAX_BLOB_KB"),
    KnobSource("seed", "--seed", "READINESS_DEMO_SEED"),
    KnobSource("max_concurrent", "--max-concurrent", "READINESS_DEMO_MAX_CONCURRENT"),
)


def resolve_knobs(flags: Mapping[str, str | None], environ: Mapping[str, str]) -> Knobs:
    """Build Knobs from flag values (keyed by knob name; None = not given) over the environment.

    An error names the flag or variable the bad value came from.
    """
    given: dict[str, tuple[str, str]] = {}
    for source in KNOB_SOURCES:
        flag_value = flags.get(source.name)
        env_value = environ.get(source.env, "").strip()
        if flag_value is not None:
            given[source.name] = (source.flag, flag_value)
        elif env_value:
            given[source.name] = (source.env, env_value)

    return Knobs(
        latency=_knob(given.get("latency"), parse_latency),
        error_rate=_knob(given.get("error_rate"), _fraction) or 0.0,
        leak_kb_per_call=_knob(given.get("leak_kb_per_call"), _count) or 0,
        crash_after=_knob(given.get("crash_after"), _count),
        max_blob_kb=_knob(given.get("max_blob_kb"), _count),
        seed=_knob(given.get("seed"), _integer),
        max_concurrent=_knob(given.get("max_concurrent"), _count),
    )


def _knob(given: tuple[str, str] | None, parse: Callable[[str], _T]) -> _T | None:
    if given is None:
        return None
    where, text = given
    try:
        return parse(text)
    except ConfigError as exc:
        raise ConfigError(exc.message, key=where) from None


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0.0 <= value <= 1.0:
        raise ConfigError(f"{text.strip()!r} is not a fraction between 0 and 1")
    return value


def _integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ConfigError(f"{text.strip()!r} is not a whole number") from None


def _count(text: str) -> int:
    value = _integer(text)
    if value < 0:
        raise ConfigError(f"{value} is negative")
    return value
