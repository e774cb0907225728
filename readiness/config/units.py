"""Human quantities in configuration: durations ("500ms"), percentages ("99%"), sizes ("16MiB"),
rates ("100/s"). Each parser returns plain SI numbers and raises ValueError with an example.
"""

from __future__ import annotations

import math
import re

DURATION_UNITS: dict[str, float] = {
    "us": 1e-6,
    "µs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
SIZE_UNITS: dict[str, int] = {
    "b": 1,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
}
RATE_UNITS: dict[str, float] = {
    "/s": 1.0,
    "/sec": 1.0,
    "rps": 1.0,
    "/m": 1 / 60,
    "/min": 1 / 60,
    "/h": 1 / 3600,
}

_NUMBER = r"[0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?"
_DURATION_PART = re.compile(rf"({_NUMBER})\s*(us|µs|ms|s|m|h)")
_DURATION_WHOLE = re.compile(rf"(?:\s*{_NUMBER}\s*(?:us|µs|ms|s|m|h))+\s*")
_BARE = re.compile(rf"\s*({_NUMBER})\s*")
_PERCENT = re.compile(rf"\s*({_NUMBER})\s*%\s*")
_SIZE = re.compile(rf"\s*({_NUMBER})\s*([A-Za-z]*)\s*")
_RATE = re.compile(rf"\s*({_NUMBER})\s*(/\s*[A-Za-z]+|rps)?\s*")

DURATION_HINT = 'a duration such as "500ms", "5s", "2m" or "1m30s" (a bare number means seconds)'
PERCENT_HINT = 'a percentage such as "99%" or a fraction such as 0.99'
SIZE_HINT = 'a size such as "16MiB", "512KiB", "1MB" or a number of bytes'
RATE_HINT = 'a rate such as "100/s" or "6000/min" (a bare number means per second)'


def _number(value: object, hint: str) -> float | None:
    """A TOML number as float; None for strings; ValueError for anything else."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"expected {hint}, got {value!r}")
    if isinstance(value, str):
        return None
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"expected {hint}, got {value!r}")
    return number


def _finite(number: float, value: object, what: str) -> float:
    """Reject the infinity a string such as "1e999s" reads as (TOML's own inf is refused
    earlier): no schedule, timeout or byte count can use it."""
    if not math.isfinite(number):
        raise ValueError(f"{what} {value!r} is too large")
    return number


def parse_duration(value: object) -> float:
    """Seconds from "250us", "500ms", "5s", "2m", "1h", "1m30s" or a bare number of seconds."""
    number = _number(value, DURATION_HINT)
    if number is None:
        text = str(value)
        if bare := _BARE.fullmatch(text):
            number = float(bare.group(1))
        elif _DURATION_WHOLE.fullmatch(text):
            number = sum(
                float(amount) * DURATION_UNITS[unit]
                for amount, unit in _DURATION_PART.findall(text)
            )
        else:
            raise ValueError(f"invalid duration {text!r}: expected {DURATION_HINT}")
    if number < 0:
        raise ValueError(f"a duration cannot be negative, got {value!r}")
    return _finite(number, value, "the duration")


def format_duration(seconds: float) -> str:
    """The shortest unit that reads naturally: 0.00025 → "250us", 0.5 → "500ms", 90 → "90s"."""
    if seconds < 0 or not math.isfinite(seconds):
        raise ValueError(f"not a duration: {seconds!r}")
    if seconds == 0:
        return "0s"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.15g}us"
    if seconds < 1:
        return f"{seconds * 1e3:.15g}ms"
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{seconds / 3600:.15g}h"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{seconds / 60:.15g}m"
    return f"{seconds:.15g}s"


def parse_percentage(value: object, *, allow_above_one: bool = False) -> float:
    """A fraction from "99%" or a bare fraction such as 0.99."""
    number = _number(value, PERCENT_HINT)
    written_as_percent = False
    if number is None:
        text = str(value)
        if percent := _PERCENT.fullmatch(text):
            number = float(percent.group(1)) / 100
            written_as_percent = True
        elif bare := _BARE.fullmatch(text):
            number = float(bare.group(1))
        else:
            raise ValueError(f"invalid percentage {text!r}: expected {PERCENT_HINT}")
    if number < 0:
        raise ValueError(f"a percentage cannot be negative, got {value!r}")
    if number > 1 and not allow_above_one:
        if written_as_percent:
            raise ValueError(f"a percentage cannot exceed 100%, got {value!r}")
        raise ValueError(f"{value!r} is above 1: expected {PERCENT_HINT}")
    return _finite(number, value, "the percentage")


def parse_size(value: object) -> int:
    """Bytes from "16MiB", "512KiB", "1MB", "100B" or an integer number of bytes."""
    number = _number(value, SIZE_HINT)
    if number is None:
        text = str(value)
        match = _SIZE.fullmatch(text)
        unit = match.group(2).lower() if match else ""
        if not match or (unit and unit not in SIZE_UNITS):
            raise ValueError(f"invalid size {text!r}: expected {SIZE_HINT}")
        number = _finite(float(match.group(1)) * SIZE_UNITS.get(unit, 1), value, "the size")
    elif not float(number).is_integer():
        raise ValueError(f"a size in bytes must be a whole number, got {value!r}")
    if number < 0:
        raise ValueError(f"a size cannot be negative, got {value!r}")
    return round(number)


def parse_rate(value: object) -> float:
    """Events per second from "100/s", "6000/min", "100 rps" or a bare number per second."""
    number = _number(value, RATE_HINT)
    if number is None:
        text = str(value)
        match = _RATE.fullmatch(text)
        unit = re.sub(r"\s+", "", match.group(2)).lower() if match and match.group(2) else "/s"
        if not match or unit not in RATE_UNITS:
            raise ValueError(f"invalid rate {text!r}: expected {RATE_HINT}")
        number = float(match.group(1)) * RATE_UNITS[unit]
    if number < 0:
        raise ValueError(f"a rate cannot be negative, got {value!r}")
    return _finite(number, value, "the rate")
