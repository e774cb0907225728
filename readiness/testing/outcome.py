"""Typed, read-only views of a run's results.json, for assertions in Python: scenarios by name,
latency percentiles in seconds, throughput, success rate, checks, score and status.

Every figure is read from results.json (through `readiness.results.load_results`), so an
assertion sees exactly what the reports show; `RunOutcome.raw` keeps the whole file for the rest.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar, cast

if TYPE_CHECKING:
    from readiness.results import (
        CheckResult,
        LatencySummary,
        OperationResult,
        RunResult,
        RunStatus,
        ScenarioResult,
        ScenarioStatus,
        ScoreStatus,
        Totals,
    )

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Latency:
    """Latency of the successful requests, in seconds (results.json keeps milliseconds);
    a percentile is None when no request completed."""

    count: int
    p50: float | None
    p90: float | None
    p95: float | None
    p99: float | None
    p999: float | None
    max: float | None
    mean: float | None

    @classmethod
    def from_summary(cls, summary: LatencySummary) -> Latency:
        def seconds(ms: float | None) -> float | None:
            return None if ms is None else ms / 1000.0

        return cls(
            count=summary["count"],
            p50=seconds(summary["p50"]),
            p90=seconds(summary["p90"]),
            p95=seconds(summary["p95"]),
            p99=seconds(summary["p99"]),
            p999=seconds(summary["p999"]),
            max=seconds(summary["max"]),
            mean=seconds(summary["mean"]),
        )


@dataclass(frozen=True, slots=True)
class CheckOutcome:
    """One threshold as judged: `observed` and `limit` in the metric's SI unit (seconds,
    a ratio 0..1, per second, …); `observed` is None when the figure was not measured."""

    expression: str
    metric: str
    unit: str
    observed: float | None
    op: str | None
    limit: float | None
    passed: bool
    critical: bool
    # From a repeated run (`run --repeat`), when results.json has them: the verdict
    # (pass | fail | inconclusive), the 95% interval of `observed` (high None: not bounded
    # above) and the verdict in words.
    # its figure was estimated in.
    verdict: str | None = None
    interval: tuple[float, float | None] | None = None
    reason: str | None = None

    @classmethod
    def from_result(cls, check: CheckResult) -> CheckOutcome:
        extra = cast("Mapping[str, object]", check)
        verdict, reason = extra.get("verdict"), extra.get("reason")
        return cls(
            expression=check["expression"],
            metric=check["metric"],
            unit=check["unit"],
            observed=check["observed"],
            op=check.get("op"),
            limit=check.get("limit"),
            passed=check["passed"],
            critical=check.get("critical", False),
            verdict=verdict if isinstance(verdict, str) else None,
            interval=_interval(extra.get("interval")),
            reason=reason if isinstance(reason, str) and reason else None,
        )

    @property
    def observed_text(self) -> str:
        """The observed figure as the reports show it: "412 ms", "99.50%", "—"."""
        from readiness.reports.format import observed

        return observed(self.observed, self.unit)

    @property
    def required_text(self) -> str:
        """The limit as the reports show it: "< 300 ms", ">= 99.00%", "> 1,000/s"."""
        from readiness.reports.format import observed

        if self.op is None or self.limit is None:
            return self.expression
        if self.unit == "per_second" and self.limit.is_integer():
            return f"{self.op} {self.limit:,.0f}/s"  # as written, not "1,000.0/s"
        return f"{self.op} {observed(self.limit, self.unit)}"

    def describe(self) -> str:
        """ "observed 412 ms, required < 300 ms", with the verdict and interval when known."""
        from readiness.reports.format import observed

        seen = "nothing measured" if self.observed is None else f"observed {self.observed_text}"
        text = f"{seen}, required {self.required_text}"
        if self.reason is not None:  # the interval and the limit in words already
            return f"{text}; {self.verdict or 'verdict'}: {self.reason}"
        if self.interval is not None:
            low, high = self.interval
            upper = "∞" if high is None else observed(high, self.unit)
            text += f" (95% interval {observed(low, self.unit)} – {upper})"
        if self.verdict is not None:
            text += f"; verdict: {self.verdict}"
        return text


@dataclass(frozen=True, slots=True)
class OperationOutcome:
    """One operation of a scenario's workload (a tool call, a resource read)."""

    name: str
    method: str
    sent: int
    ok: int
    success_rate: float | None
    throughput: float  # successful requests per second of the measured window
    latency: Latency

    @classmethod
    def from_result(cls, op: OperationResult) -> OperationOutcome:
        return cls(
            name=op["name"],
            method=op["method"],
            sent=op["totals"]["sent"],
            ok=op["totals"]["ok"],
            success_rate=op["totals"]["success_rate"],
            throughput=op["totals"]["throughput_rps"],
            latency=Latency.from_summary(op["latency_ms"]),
        )


@dataclass(frozen=True, slots=True)
class ScenarioOutcome:
    """One scenario against one target: its status, totals, latency and checks."""

    name: str
    kind: str
    target: str
    status: ScenarioStatus
    error: str | None  # why the scenario ended in error
    partial: bool  # stopped before its load finished (timeout, interruption)
    duration_s: float
    sent: int
    ok: int
    success_rate: float | None  # ok / (sent − rejected by our own breaker)
    error_rate: float | None
    throughput: float  # successful requests per second of the measured window
    latency: Latency
    operations: tuple[OperationOutcome, ...]
    checks: tuple[CheckOutcome, ...]

    @classmethod
    def from_result(cls, scenario: ScenarioResult) -> ScenarioOutcome:
        totals: Totals = scenario["totals"]
        return cls(
            name=scenario["name"],
            kind=scenario["kind"],
            target=scenario["target"],
            status=scenario["status"],
            error=scenario["error"],
            partial=scenario["partial"],
            duration_s=scenario["duration_s"],
            sent=totals["sent"],
            ok=totals["ok"],
            success_rate=totals["success_rate"],
            error_rate=totals["error_rate"],
            throughput=totals["throughput_rps"],
            latency=Latency.from_summary(scenario["latency_ms"]),
            operations=tuple(OperationOutcome.from_result(o) for o in scenario["operations"]),
            checks=tuple(CheckOutcome.from_result(c) for c in scenario["checks"]),
        )

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    def operation(self, name: str) -> OperationOutcome:
        """The operation of this name; KeyError naming the operations there are."""
        return _one(self.operations, name, "operation", lambda o: o.name)

    def check(self, expression: str) -> CheckOutcome:
        """The check written as `expression` ("p99 < 300ms"); KeyError naming the checks."""
        return _one(self.checks, expression, "check", lambda c: c.expression)


@dataclass(frozen=True, slots=True)
class ScoreOutcome:
    """The run's 0–100 score and readiness status (see the report for every deduction)."""

    value: float | None  # None when no check could be assessed
    status: ScoreStatus  # ready | conditional | not_ready
    label: str
    checks_total: int
    checks_passed: int


@dataclass(frozen=True, slots=True)
class RunOutcome:
    """A run as results.json records it; `folder` holds results.json and the reports."""

    folder: Path
    status: RunStatus  # passed | failed | inconclusive | error | interrupted
    scenarios: tuple[ScenarioOutcome, ...]
    score: ScoreOutcome | None
    raw: RunResult

    @classmethod
    def from_result(cls, result: RunResult, folder: Path) -> RunOutcome:
        score = result.get("score")
        return cls(
            folder=folder,
            status=result["run"]["status"],
            scenarios=tuple(ScenarioOutcome.from_result(s) for s in result["scenarios"]),
            score=None
            if score is None
            else ScoreOutcome(
                value=score["value"],
                status=score["status"],
                label=score["label"],
                checks_total=score["checks_total"],
                checks_passed=score["checks_passed"],
            ),
            raw=result,
        )

    @classmethod
    def load(cls, path: Path) -> RunOutcome:
        """Read a results.json (or its folder); ConfigError when it is not one."""
        from readiness.results import load_results

        folder = path if path.is_dir() else path.parent
        return cls.from_result(load_results(path), folder)

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    def scenario(self, name: str, target: str | None = None) -> ScenarioOutcome:
        """The scenario of this name (against `target`, when it ran against several);
        KeyError naming the scenarios that ran."""
        found = [s for s in self.scenarios if s.name == name and target in (None, s.target)]
        if len(found) == 1:
            return found[0]
        ran = ", ".join(f"{s.target}::{s.name}" for s in self.scenarios) or "none"
        if found:
            raise KeyError(f"scenario {name!r} ran against several targets; name one ({ran})")
        where = "" if target is None else f" against target {target!r}"
        raise KeyError(f"no scenario {name!r}{where} ran (ran: {ran})")


def _interval(value: object) -> tuple[float, float | None] | None:
    """[low, high] (high None: not bounded above); anything else is no interval."""
    if not isinstance(value, list | tuple) or len(value) != 2:
        return None
    low, high = value
    if not isinstance(low, int | float) or not (high is None or isinstance(high, int | float)):
        return None
    return float(low), None if high is None else float(high)


def _one(items: tuple[T, ...], wanted: str, noun: str, name_of: Callable[[T], str]) -> T:
    for item in items:
        if name_of(item) == wanted:
            return item
    there = ", ".join(repr(name_of(i)) for i in items) or "none"
    raise KeyError(f"no {noun} {wanted!r} (there are: {there})")
