"""The demo server's knobs (latency, injected errors, leak, crash, blob cap) and their parsing.

Each knob comes from a command-line flag or a READINESS_DEMO_* variable; the flag wins.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final, TypeVar

from readiness.config import latency as distributions
from readiness.config.latency import FixedLatency, Latency, LognormalLatency, UniformLatency
from readiness.errors import ConfigError

__all__ = [
    "KNOB_SOURCES",
    "FixedLatency",
    "Knobs",
    "Latency",
    "LognormalLatency",
    "UniformLatency",
    "parse_latency",
    "resolve_knobs",
]

_T = TypeVar("_T")


def parse_latency(spec: str) -> Latency:
    """A `--latency` distribution (readiness.config.latency's grammar), as a ConfigError."""
    try:
        return distributions.parse_latency(spec)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


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
        max_concurrent=_knob(given.get("max_concurrent"), _positive),
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


def _positive(text: str) -> int:
    value = _integer(text)
    if value < 1:
        raise ConfigError(f"{value} is below 1")
    return value
