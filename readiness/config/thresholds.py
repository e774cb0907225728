"""Threshold expressions such as "p99 < 500ms" or "success_rate >= 99%", parsed once into
checks that compare an observed figure (in SI units: seconds, ratios, per second) to a limit.
"""

from __future__ import annotations

import difflib
import math
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, cast

from readiness.config.units import (
    PERCENT_HINT,
    RATE_HINT,
    parse_duration,
    parse_percentage,
    parse_rate,
    parse_size,
)
from readiness.errors import ConfigError

Op = Literal["<", "<=", ">", ">=", "==", "!="]
Unit = Literal["ratio", "seconds", "per_second", "count", "bytes", "bool"]


@dataclass(frozen=True)
class Metric:
    """What a threshold may name: its unit, and a phrase for messages and reports."""

    unit: Unit
    description: str


# The one table of metrics thresholds understand; later scenarios add theirs here.
METRICS: dict[str, Metric] = {
    "success_rate": Metric("ratio", "share of requests that succeeded"),
    "error_rate": Metric("ratio", "share of requests that failed"),
    "p50": Metric("seconds", "median latency"),
    "p90": Metric("seconds", "90th percentile latency"),
    "p95": Metric("seconds", "95th percentile latency"),
    "p99": Metric("seconds", "99th percentile latency"),
    "p999": Metric("seconds", "99.9th percentile latency"),
    "max": Metric("seconds", "slowest successful request"),
    "mean": Metric("seconds", "mean latency"),
    "throughput": Metric("per_second", "successful requests per second"),
    "late": Metric("count", "sends that started late (open model)"),
    "dropped": Metric("count", "sends dropped at max_in_flight (open model)"),
    "timeouts": Metric("count", "requests that timed out"),
    "errors": Metric("count", "requests that failed"),
    # memory scenarios
    "leak": Metric("bool", "the RSS leak verdict is 'leak'"),
    "fd_leak": Metric("bool", "the file-descriptor leak verdict is 'leak'"),
    "rss_growth": Metric("bytes", "server RSS growth under load, after warm-up"),
    "fd_growth": Metric("count", "growth in the server's open file descriptors"),
    "thread_growth": Metric("count", "growth in the server's threads"),
    # payload scenarios
    "max_payload": Metric("bytes", "largest payload size at which every request succeeded"),
    # failure scenarios (figures while the faults acted)
    "affected_success_rate": Metric("ratio", "success rate of operations the faults select"),
    "unaffected_success_rate": Metric("ratio", "success rate of operations no fault selects"),
    "unaffected_p99_growth": Metric(
        "ratio", "how much the unaffected operations' p99 grew over the steady state"
    ),
    "breaker_opened": Metric("count", "times the circuit breaker opened"),
    # recovery (and overload) scenarios
    "time_to_detect": Metric("seconds", "from the fault's injection to the first failure"),
    "time_to_first_success": Metric(
        "seconds", "from restore (the injection if none) to the first successful request"
    ),
    "recovery_time": Metric("seconds", "from restore (or load drop) until back to steady state"),
    "recovered": Metric("bool", "throughput and p95 came back to the steady state"),
    "failed_during_outage": Metric("count", "requests that failed between injection and restore"),
    "lost": Metric("count", "requests sent that never got an outcome"),
    # overload scenarios
    "max_sustainable_rate": Metric("per_second", "highest offered rate served within tolerance"),
    "alive": Metric("bool", "the server still answered after the overload"),
    # pool scenarios
    "pool_wait_p99": Metric("seconds", "99th percentile wait for a pooled session"),
    "pool_timeouts": Metric("count", "requests that gave up waiting for a pooled session"),
    # the target's own health endpoints ([targets.health]), any scenario
    "liveness_lied": Metric("bool", "liveness said alive while every MCP call failed"),
    "readiness_availability": Metric("ratio", "share of readiness polls that said ready"),
    "readiness_down_after_fault": Metric(
        "seconds", "from the fault to the first readiness poll that was not ready"
    ),
    "readiness_up_after_restore": Metric(
        "seconds", "from the restore to the first readiness poll that was ready again"
    ),
    "metrics_disagreements": Metric(
        "count", "ways the server's own metrics disagreed with readiness's measurements"
    ),
    # targets with a simulated client ([targets.client])
    "server_time_p50": Metric("seconds", "median server time (end-to-end − client time)"),
    "server_time_p99": Metric("seconds", "99th percentile server time (end-to-end − client time)"),
    "client_time_p99": Metric("seconds", "99th percentile time the simulated client spent"),
    "server_requests": Metric("count", "requests the server sent the simulated client"),
    "answer_failures": Metric("count", "server requests the simulated client could not answer"),
    "lost_progress": Metric("count", "calls that asked for progress and finished without any"),
    "stuck_tasks": Metric("count", "tasks that never finished, or that the server lost"),
    "duplicate_requests": Metric("count", "server requests sent twice (an id already answered)"),
    "late_after_cancel": Metric(
        "count", "progress notifications and replies the server sent after a cancellation"
    ),
    # subscriptions scenarios
    "delivery_ratio": Metric("ratio", "share of (update, subscriber) pairs told within settle"),
    "lost_updates": Metric("count", "(update, subscriber) pairs never told within settle"),
    "fanout_p99": Metric("seconds", "99th percentile from an update to a subscriber's notice"),
    "after_unsubscribe": Metric("count", "resource updates sent after unsubscribing"),
    # security scenarios
    "findings_critical": Metric("count", "critical security findings"),
    "findings_high": Metric("count", "high-severity security findings"),
    "findings_medium": Metric("count", "medium-severity security findings"),
    "findings_low": Metric("count", "low-severity security findings"),
    "crashed": Metric("bool", "the server crashed or stopped answering during the probes"),
    "hangs": Metric("count", "probes that got no answer within probe_timeout"),
}

_OPS: dict[Op, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}
_EXPRESSION = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_.]*)\s*(<=|>=|==|!=|<|>|=)\s*(\S.*?)\s*")
_UNIT_HINTS: dict[Unit, str] = {
    "ratio": PERCENT_HINT,
    "seconds": 'a duration with its unit, such as "500ms" or "0.2s"',
    "per_second": RATE_HINT,
    "count": "a plain number, such as 0 or 10",
    "bytes": 'a size, such as "50MB" or "512KiB"',
    "bool": "true or false",
}
_UNIT_WORDS: dict[Unit, str] = {
    "ratio": "a percentage",
    "seconds": "a duration",
    "per_second": "a rate",
    "count": "a count",
    "bytes": "a size",
    "bool": "true or false",
}
_BARE_NUMBER = re.compile(r"[0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?")
_EXAMPLE = '"p99 < 500ms", "success_rate >= 99%" or "throughput > 100/s"'


@dataclass(frozen=True)
class Threshold:
    """A parsed check: `metric op value`, with value in the metric's SI unit. A critical check
    that fails keeps the run from the ready status whatever its score; `weight` is its share
    of its category's score relative to the category's other checks."""

    expression: str
    metric: str
    op: Op
    value: float
    unit: Unit
    critical: bool = False
    weight: float = 1.0

    def evaluate(self, observed: float) -> bool:
        """True when the observed figure satisfies the threshold; NaN never does."""
        if math.isnan(observed):
            return False
        return _OPS[self.op](observed, self.value)

    def __str__(self) -> str:
        return self.expression


def parse_threshold(expression: str) -> Threshold:
    """Parse "metric op value"; raises ConfigError naming what was wrong and what was expected."""
    if not isinstance(expression, str):
        raise ConfigError(f"expected a threshold string such as {_EXAMPLE}, got {expression!r}")
    match = _EXPRESSION.fullmatch(expression)
    if not match:
        raise ConfigError(f"cannot read threshold {expression!r}: expected {_EXAMPLE}")
    name, op_text, value_text = match.groups()
    if op_text == "=":
        raise ConfigError(f"threshold {expression!r}: use '==' to compare for equality")
    metric = METRICS.get(name)
    if metric is None:
        raise ConfigError(f"threshold {expression!r}: unknown metric {name!r}{_suggest(name)}")
    op = cast(Op, op_text)
    value = _parse_value(expression, name, metric.unit, value_text)
    return Threshold(expression.strip(), name, op, value, metric.unit)


def _suggest(name: str) -> str:
    close = difflib.get_close_matches(name, METRICS, n=1, cutoff=0.5)
    if close:
        return f"; did you mean {close[0]!r}?"
    return f"; known metrics: {', '.join(METRICS)}"


def _looks_like(text: str) -> Unit | None:
    """Which unit a value was written in, judged by its suffix alone."""
    stripped = text.strip().lower()
    if stripped.endswith("%"):
        return "ratio"
    if "/" in stripped or stripped.endswith("rps"):
        return "per_second"
    if re.search(r"[0-9.]\s*(b|kb|mb|gb|kib|mib|gib)$", stripped):
        return "bytes"
    if re.search(r"[0-9.]\s*(us|µs|ms|s|m|h)$", stripped):
        return "seconds"
    return None


def _parse_value(expression: str, name: str, unit: Unit, text: str) -> float:
    written = _looks_like(text)
    expected = _UNIT_HINTS[unit]
    if written is not None and written != unit:
        raise ConfigError(
            f"threshold {expression!r}: {name} is measured as {_UNIT_WORDS[unit]}, "
            f"but {text!r} is {_UNIT_WORDS[written]}; expected {expected}"
        )
    try:
        if unit == "ratio":
            return parse_percentage(text)
        if unit == "per_second":
            return parse_rate(text)
        if unit == "bytes":
            return float(parse_size(text))
        if unit == "bool":
            if text.strip().lower() not in ("true", "false"):
                raise ValueError(f"{text!r} is not true or false")
            return 1.0 if text.strip().lower() == "true" else 0.0
        if unit == "seconds":
            if written is None:
                # A bare 500 could mean seconds or milliseconds; refuse to guess on a latency.
                raise ValueError(f"{text!r} has no unit; expected {expected}")
            return parse_duration(text)
        count = float(text) if _BARE_NUMBER.fullmatch(text) else math.nan
        if not math.isfinite(count) or count < 0:
            raise ValueError(f"{text!r} is not a count; expected {expected}")
        return count
    except ValueError as exc:
        raise ConfigError(f"threshold {expression!r}: {exc}") from None
