"""Scenarios of a suite: how load arrives (LoadConfig) and what each kind of scenario runs,
with the checks that keep each kind's keys to that kind."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import BeforeValidator, Field, model_validator

from readiness.config_types import (
    ConfigModel,
    Duration,
    Integer,
    Name,
    Number,
    Rate,
    Size,
    invalid,
)
from readiness.config_types import Ratio as Fraction
from readiness.config_workload import WorkloadConfig
from readiness.errors import ConfigError
from readiness.thresholds import Threshold, parse_threshold


def _threshold(value: object) -> Threshold:
    if isinstance(value, Threshold):
        return value
    try:
        return parse_threshold(value)  # type: ignore[arg-type]  # it reports non-strings itself
    except ConfigError as exc:
        raise invalid(exc.message) from None


class Stage(ConfigModel):
    """Ramp linearly to `target` (concurrency, or rate per second) over `duration` seconds."""

    duration: Annotated[Duration, Field(gt=0)]
    target: Annotated[Number, Field(ge=0)]


class LoadConfig(ConfigModel):
    """How requests arrive. Closed: `concurrency` virtual users, each waits for its reply (and
    `think_time`). Open: `rate` sends per second on a schedule, never waiting on replies.
    With `stages`, `concurrency`/`rate` is the starting level the first stage ramps from.
    """

    model: Literal["closed", "open"] = "closed"
    concurrency: Annotated[Integer, Field(ge=1)] | None = None
    requests: Annotated[Integer, Field(ge=1)] | None = None
    duration: Annotated[Duration, Field(gt=0)] | None = None
    think_time: Annotated[Duration, Field(ge=0)] = 0.0
    rate: Annotated[Rate, Field(gt=0)] | None = None
    arrivals: Literal["constant", "poisson"] = "constant"
    max_in_flight: Annotated[Integer, Field(ge=1)] = 1024
    on_max_in_flight: Literal["late", "drop"] = "late"
    stages: tuple[Stage, ...] = ()

    _OPEN_ONLY: ClassVar[tuple[str, ...]] = (
        "rate",
        "arrivals",
        "max_in_flight",
        "on_max_in_flight",
    )
    _CLOSED_ONLY: ClassVar[tuple[str, ...]] = ("concurrency", "think_time")

    @model_validator(mode="after")
    def _consistent(self) -> LoadConfig:
        other, misplaced = (
            ("open", self._OPEN_ONLY) if self.model == "closed" else ("closed", self._CLOSED_ONLY)
        )
        for field in misplaced:
            if field in self.model_fields_set:
                raise invalid(f'{field} applies to model = "{other}" only', field)
        if self.model == "closed" and self.concurrency is None and not self.stages:
            raise invalid("the closed model needs concurrency (or stages)", "concurrency")
        if self.model == "open" and self.rate is None and not self.stages:
            raise invalid('the open model needs a rate such as "100/s" (or stages)', "rate")
        if self.duration is not None and self.stages:
            raise invalid("give duration or stages, not both (stages set the duration)", "duration")
        if self.requests is None and self.duration is None and not self.stages:
            raise invalid("the load is unbounded: give requests, duration or stages", "requests")
        if self.model == "closed":
            for i, stage in enumerate(self.stages):
                if not stage.target.is_integer():
                    raise invalid(
                        "a closed-model stage targets a whole concurrency", "stages", i, "target"
                    )
        return self

    def planned_duration(self) -> float | None:
        """Seconds the schedule runs for, when bounded by time rather than count."""
        if self.stages:
            return sum(stage.duration for stage in self.stages)
        return self.duration


ScenarioKind = Literal["throughput", "scaling", "memory", "payload"]
PayloadDirection = Literal["result", "argument", "both"]


class ScenarioConfig(ConfigModel):
    """A named test: `throughput` runs `load`; `scaling` climbs a ladder of `steps`."""

    name: Name
    kind: ScenarioKind
    target: str | None = None  # None: every target
    load: LoadConfig | None = None
    workload: WorkloadConfig | None = None
    thresholds: tuple[Annotated[Threshold, BeforeValidator(_threshold)], ...] = ()
    steps: tuple[Annotated[Number, Field(gt=0)], ...] = ()
    step_model: Literal["closed", "open"] = "closed"
    step_duration: Annotated[Duration, Field(gt=0)] = 5.0
    knee_growth: Annotated[Fraction, Field(ge=0)] = 0.10
    knee_p95: Annotated[Duration, Field(gt=0)] | None = None
    grace: Annotated[Duration, Field(ge=0)] = 5.0
    warmup: Annotated[Duration, Field(ge=0)] = 0.0
    # memory (soak): load is the sustained load; warmup is excluded from the verdict
    settle: Annotated[Duration, Field(ge=0)] = 5.0
    sample_interval: Annotated[Duration, Field(gt=0)] = 0.25
    leak_threshold: Annotated[Size, Field(gt=0)] = 1024  # bytes per 1,000 requests
    leak_min_growth: Annotated[Size, Field(ge=0)] = 5 * 1024 * 1024
    # payload: a ladder of sizes, as large results and/or large arguments
    sizes: tuple[Annotated[Size, Field(gt=0)], ...] = ()
    direction: PayloadDirection = "both"
    requests_per_size: Annotated[int, Field(ge=1, strict=True)] = 20
    concurrency: Annotated[int, Field(ge=1, strict=True)] = 2
    result_tool: str = "blob"  # called with {result_argument: size in KiB}
    result_argument: str = "kb"
    argument_tool: str = "echo"  # called with {argument_name: a string of the size}
    argument_name: str = "text"

    _SCALING_ONLY: ClassVar[tuple[str, ...]] = (
        "steps",
        "step_model",
        "step_duration",
        "knee_growth",
        "knee_p95",
    )
    _MEMORY_ONLY: ClassVar[tuple[str, ...]] = (
        "settle",
        "sample_interval",
        "leak_threshold",
        "leak_min_growth",
    )
    _PAYLOAD_ONLY: ClassVar[tuple[str, ...]] = (
        "sizes",
        "direction",
        "requests_per_size",
        "concurrency",
        "result_tool",
        "result_argument",
        "argument_tool",
        "argument_name",
    )
    _ONLY: ClassVar[dict[str, tuple[str, ...]]] = {
        "scaling": _SCALING_ONLY,
        "memory": _MEMORY_ONLY,
        "payload": _PAYLOAD_ONLY,
    }

    @model_validator(mode="after")
    def _kind_needs(self) -> ScenarioConfig:
        for kind, fields in self._ONLY.items():
            if kind == self.kind:
                continue
            for field in fields:
                if field in self.model_fields_set:
                    raise invalid(f'{field} applies to kind = "{kind}" only', field)
        if self.kind in ("throughput", "memory"):
            if self.load is None:
                raise invalid(
                    f"a {self.kind} scenario needs load,"
                    ' e.g. load = { concurrency = 10, duration = "30s" }',
                    "load",
                )
            planned = self.load.planned_duration()
            if planned is not None and self.warmup >= planned:
                raise invalid("warmup must be shorter than the load's duration", "warmup")
            if self.kind == "memory" and self.load.duration is None and not self.load.stages:
                raise invalid(
                    'a memory scenario runs for a time: give load.duration, e.g. "10m"',
                    "load",
                )
        elif self.kind == "payload":
            if self.load is not None:
                raise invalid(
                    "a payload scenario sets its load with sizes, requests_per_size and"
                    " concurrency",
                    "load",
                )
            if not self.sizes:
                raise invalid(
                    'a payload scenario needs sizes, e.g. sizes = ["1KiB", "1MiB"]', "sizes"
                )
            for i, (small, big) in enumerate(zip(self.sizes, self.sizes[1:], strict=False)):
                if big <= small:
                    raise invalid("sizes must increase", "sizes", i + 1)
        else:
            if self.load is not None:
                raise invalid(
                    "a scaling scenario sets its load with steps, step_model and step_duration",
                    "load",
                )
            if not self.steps:
                raise invalid(
                    "a scaling scenario needs steps, e.g. steps = [1, 5, 10, 25, 50]", "steps"
                )
            for i, (low, high) in enumerate(zip(self.steps, self.steps[1:], strict=False)):
                if high <= low:
                    raise invalid(
                        f"steps must increase, but {high:g} follows {low:g}", "steps", i + 1
                    )
            if self.step_model == "closed":
                for i, step in enumerate(self.steps):
                    if not step.is_integer():
                        raise invalid("closed-model steps are whole concurrencies", "steps", i)
            if self.warmup >= self.step_duration:
                raise invalid("warmup must be shorter than step_duration", "warmup")
        return self

    def planned_duration(self) -> float | None:
        """Seconds of load the scenario plans (warm-up included); None when bounded by count."""
        if self.kind == "scaling":
            return len(self.steps) * self.step_duration
        return self.load.planned_duration() if self.load else None
