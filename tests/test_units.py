from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from readiness.config.units import (
    format_duration,
    parse_duration,
    parse_percentage,
    parse_rate,
    parse_size,
)


@pytest.mark.parametrize(
    ("written", "seconds"),
    [
        ("250us", 250e-6),
        ("250µs", 250e-6),
        ("500ms", 0.5),
        ("5s", 5.0),
        ("2m", 120.0),
        ("1h", 3600.0),
        ("1m30s", 90.0),
        ("1.5s", 1.5),
        (" 10 ms ", 0.01),
        ("5", 5.0),
        (5, 5.0),
        (0.25, 0.25),
        (0, 0.0),
    ],
)
def test_durations_read_as_seconds(written: object, seconds: float) -> None:
    assert parse_duration(written) == pytest.approx(seconds)


@pytest.mark.parametrize(
    "written", ["fast", "5 sec", "5d", "s", "", "-1s", -1, True, None, [5], math.inf]
)
def test_bad_durations_are_refused_with_an_example(written: object) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(written)


@given(st.floats(min_value=0, max_value=1e7, allow_nan=False, allow_infinity=False))
def test_a_formatted_duration_reads_back_as_the_same_seconds(seconds: float) -> None:
    assert parse_duration(format_duration(seconds)) == pytest.approx(seconds, rel=1e-9, abs=1e-15)


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (0, "0s"),
        (0.00025, "250us"),
        (0.5, "500ms"),
        (5, "5s"),
        (90, "90s"),
        (120, "2m"),
        (7200, "2h"),
    ],
)
def test_durations_format_in_the_unit_that_reads_naturally(seconds: float, shown: str) -> None:
    assert format_duration(seconds) == shown


@pytest.mark.parametrize(
    ("written", "fraction"),
    [
        ("99%", 0.99),
        ("99.9%", 0.999),
        ("0%", 0.0),
        ("100%", 1.0),
        (0.99, 0.99),
        (1, 1.0),
        ("0.5", 0.5),
    ],
)
def test_percentages_read_as_fractions(written: object, fraction: float) -> None:
    assert parse_percentage(written) == pytest.approx(fraction)


@pytest.mark.parametrize("written", ["101%", 99, "99", "-5%", -0.1, "ninety", True, None])
def test_bad_percentages_are_refused(written: object) -> None:
    with pytest.raises(ValueError, match=r"percentage|above 1"):
        parse_percentage(written)


def test_percentages_above_one_hundred_are_allowed_where_asked_for() -> None:
    assert parse_percentage("150%", allow_above_one=True) == pytest.approx(1.5)


@pytest.mark.parametrize(
    ("written", "size"),
    [
        ("16MiB", 16 * 1024 * 1024),
        ("512KiB", 512 * 1024),
        ("1MB", 1_000_000),
        ("1 GB", 1_000_000_000),
        ("100B", 100),
        ("1.5KiB", 1536),
        ("2048", 2048),
        (4096, 4096),
    ],
)
def test_sizes_read_as_bytes(written: object, size: int) -> None:
    assert parse_size(written) == size


@pytest.mark.parametrize("written", ["16 MiBs", "lots", -1, 1.5, True, "-1KiB"])
def test_bad_sizes_are_refused(written: object) -> None:
    with pytest.raises(ValueError, match="size"):
        parse_size(written)


@pytest.mark.parametrize(
    ("written", "per_second"),
    [
        ("100/s", 100.0),
        ("6000/min", 100.0),
        ("60/m", 1.0),
        ("100 rps", 100.0),
        ("3600/h", 1.0),
        (25, 25.0),
    ],
)
def test_rates_read_as_per_second(written: object, per_second: float) -> None:
    assert parse_rate(written) == pytest.approx(per_second)


@pytest.mark.parametrize("written", ["100/fortnight", "fast", "-5/s", True])
def test_bad_rates_are_refused(written: object) -> None:
    with pytest.raises(ValueError, match="rate"):
        parse_rate(written)
