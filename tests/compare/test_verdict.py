"""The verdict rule: regressed only when the interval excludes zero on the bad side AND the
change is past the tolerance."""

from __future__ import annotations

import pytest

from readiness.compare.verdict import judge


@pytest.mark.parametrize(
    ("better", "change", "interval", "verdict"),
    [
        ("lower", 0.30, (0.10, 0.50), "regressed"),  # slower, surely, and by more than 10%
        ("lower", 0.30, (-0.05, 0.60), "unchanged"),  # could be nothing
        ("lower", 0.05, (0.02, 0.08), "unchanged"),  # real, but within the tolerance
        ("lower", -0.30, (-0.50, -0.15), "improved"),
        ("higher", -0.30, (-0.50, -0.15), "regressed"),  # less throughput
        ("higher", 0.30, (0.15, 0.50), "improved"),
        ("higher", -0.30, (-0.50, 0.01), "unchanged"),
    ],
)
def test_the_interval_and_the_tolerance_together_decide(
    better: str, change: float, interval: tuple[float, float], verdict: str
) -> None:
    got, reason = judge(better, change, interval, 0.10)  # type: ignore[arg-type]
    assert got == verdict
    assert "95% CI" in reason


def test_without_an_interval_the_point_is_held_against_the_tolerance_and_says_so() -> None:
    assert judge("lower", 0.3, None, 0.1)[0] == "regressed"
    assert judge("lower", 0.05, None, 0.1)[0] == "unchanged"
    assert judge("higher", 0.3, None, 0.1)[0] == "improved"
    assert "point comparison only" in judge("lower", 0.3, None, 0.1)[1]


def test_success_rate_tolerance_is_in_percentage_points() -> None:
    verdict, reason = judge("higher", -0.01, (-0.02, -0.005), 0.005, points=True)
    assert verdict == "regressed"
    assert "-1.00 points" in reason
    assert judge("higher", -0.001, (-0.002, -0.0005), 0.005, points=True)[0] == "unchanged"
