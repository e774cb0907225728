from __future__ import annotations

import math

import pytest

from readiness.config.thresholds import METRICS, Metric, Threshold, parse_threshold
from readiness.errors import ConfigError


@pytest.mark.parametrize(
    ("expression", "metric", "op", "value", "unit"),
    [
        ("success_rate >= 99%", "success_rate", ">=", 0.99, "ratio"),
        ("error_rate < 1%", "error_rate", "<", 0.01, "ratio"),
        ("error_rate < 0.01", "error_rate", "<", 0.01, "ratio"),
        ("p99 < 500ms", "p99", "<", 0.5, "seconds"),
        ("p95 <= 0.2s", "p95", "<=", 0.2, "seconds"),
        ("max < 2s", "max", "<", 2.0, "seconds"),
        ("mean < 50ms", "mean", "<", 0.05, "seconds"),
        ("p999<1s", "p999", "<", 1.0, "seconds"),
        ("throughput > 100/s", "throughput", ">", 100.0, "per_second"),
        ("throughput > 6000/min", "throughput", ">", 100.0, "per_second"),
        ("throughput > 100", "throughput", ">", 100.0, "per_second"),
        ("dropped == 0", "dropped", "==", 0.0, "count"),
        ("timeouts != 3", "timeouts", "!=", 3.0, "count"),
    ],
)
def test_thresholds_parse_into_metric_operator_and_si_value(
    expression: str, metric: str, op: str, value: float, unit: str
) -> None:
    threshold = parse_threshold(expression)
    assert (threshold.metric, threshold.op, threshold.unit) == (metric, op, unit)
    assert threshold.value == pytest.approx(value)
    assert threshold.expression == expression.strip()


@pytest.mark.parametrize(
    ("expression", "passing", "failing"),
    [
        ("p99 < 500ms", 0.499, 0.5),
        ("p99 <= 500ms", 0.5, 0.501),
        ("success_rate >= 99%", 0.99, 0.989),
        ("throughput > 100/s", 100.1, 100.0),
        ("errors == 0", 0.0, 1.0),
        ("late != 0", 1.0, 0.0),
    ],
)
def test_a_threshold_passes_only_on_its_side_of_the_limit(
    expression: str, passing: float, failing: float
) -> None:
    threshold = parse_threshold(expression)
    assert threshold.evaluate(passing)
    assert not threshold.evaluate(failing)


def test_a_missing_observation_never_passes() -> None:
    assert not parse_threshold("p99 < 500ms").evaluate(math.nan)
    assert not parse_threshold("late != 0").evaluate(math.nan)


@pytest.mark.parametrize(
    ("expression", "suggestion"),
    [
        ("p98 < 50ms", "'p99'"),
        ("sucess_rate >= 99%", "'success_rate'"),
        ("thruput > 5/s", "'throughput'"),
    ],
)
def test_an_unknown_metric_is_refused_with_a_suggestion(expression: str, suggestion: str) -> None:
    with pytest.raises(ConfigError, match=f"unknown metric .*did you mean {suggestion}"):
        parse_threshold(expression)


@pytest.mark.parametrize(
    ("expression", "complaint"),
    [
        ("p99 < 50%", "p99 is measured as a duration, but '50%' is a percentage"),
        (
            "success_rate >= 5ms",
            "success_rate is measured as a percentage, but '5ms' is a duration",
        ),
        ("throughput > 5%", "throughput is measured as a rate"),
        ("errors < 1%", "errors is measured as a count"),
        ("p99 < 5/s", "is a rate"),
    ],
)
def test_a_value_in_the_wrong_unit_is_refused(expression: str, complaint: str) -> None:
    with pytest.raises(ConfigError, match=complaint):
        parse_threshold(expression)


@pytest.mark.parametrize(
    ("expression", "complaint"),
    [
        ("p99 < 500", "has no unit"),  # 500 seconds or 500 ms? refuse to guess
        ("success_rate >= 99", "above 1"),
        ("p99 = 500ms", "use '=='"),
        ("p99 500ms", "cannot read threshold"),
        ("< 500ms", "cannot read threshold"),
        ("errors < many", "not a count"),
        ("p99 < fast", "invalid duration|has no unit"),
    ],
)
def test_malformed_thresholds_are_refused_with_what_was_expected(
    expression: str, complaint: str
) -> None:
    with pytest.raises(ConfigError, match=complaint):
        parse_threshold(expression)


def test_a_metric_added_to_the_table_becomes_usable(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError):
        parse_threshold("queue_wait < 5s")
    monkeypatch.setitem(METRICS, "queue_wait", Metric("seconds", "time spent queued"))
    assert parse_threshold("queue_wait < 5s") == Threshold(
        "queue_wait < 5s", "queue_wait", "<", 5.0, "seconds"
    )
