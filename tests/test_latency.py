"""Latency distributions in configuration (readiness.config.latency): one grammar for the latency
fault and the demo's `--latency` knob, durations read as readiness.config.units reads them."""

from __future__ import annotations

import math
import random

import pytest

from readiness.config.latency import (
    FixedLatency,
    LognormalLatency,
    UniformLatency,
    parse_latency,
)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("fixed:2ms", FixedLatency(0.002)),
        ("fixed:500us", FixedLatency(0.0005)),
        ("fixed:1.5s", FixedLatency(1.5)),
        ("fixed:2", FixedLatency(2.0)),  # a bare number means seconds, as everywhere in config
        ("fixed:1m30s", FixedLatency(90.0)),
        ("uniform:1ms..5ms", UniformLatency(0.001, 0.005)),
        ("lognormal:median=3ms,p99=40ms", LognormalLatency(0.003, 0.040)),
        (" lognormal: p99=40ms , median=3ms ", LognormalLatency(0.003, 0.040)),
    ],
)
def test_latency_specs_parse_into_their_distributions(spec: str, expected: object) -> None:
    assert parse_latency(spec) == expected


@pytest.mark.parametrize(
    "spec",
    [
        "",
        "2ms",
        "fixed:",
        "fixed:-2ms",
        "fixed:soon",
        "gaussian:2ms",
        "uniform:5ms..1ms",
        "uniform:1ms",
        "lognormal:median=3ms",
        "lognormal:median=40ms,p99=3ms",
        "lognormal:median=0ms,p99=3ms",
        "lognormal:median=3ms,p99=40ms,p50=1ms",
    ],
)
def test_bad_latency_specs_raise_value_error_with_an_example(spec: str) -> None:
    with pytest.raises(ValueError, match="fixed:2ms"):
        parse_latency(spec)


def test_a_distribution_prints_back_as_a_spec_that_parses_to_it() -> None:
    for spec in ("fixed:2ms", "uniform:1ms..5ms", "lognormal:median=3ms,p99=40ms"):
        latency = parse_latency(spec)
        assert str(latency) == spec
        assert parse_latency(str(latency)) == latency


def test_lognormal_sigma_comes_from_median_and_p99() -> None:
    latency = parse_latency("lognormal:median=3ms,p99=40ms")
    assert isinstance(latency, LognormalLatency)
    assert latency.sigma == pytest.approx(math.log(40 / 3) / 2.3263)


def test_lognormal_draws_have_the_configured_median_and_p99() -> None:
    latency = parse_latency("lognormal:median=3ms,p99=40ms")
    rng = random.Random(1)
    draws = sorted(latency.sample(rng) for _ in range(20_000))
    assert draws[10_000] == pytest.approx(0.003, rel=0.05)
    assert draws[19_800] == pytest.approx(0.040, rel=0.15)


def test_uniform_draws_stay_within_their_bounds() -> None:
    latency = parse_latency("uniform:1ms..5ms")
    rng = random.Random(1)
    draws = [latency.sample(rng) for _ in range(1000)]
    assert min(draws) >= 0.001
    assert max(draws) <= 0.005
    assert max(draws) - min(draws) > 0.003
