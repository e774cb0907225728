"""Scenarios of a suite: how load arrives (LoadConfig) and what each kind of scenario runs,
with the checks that keep each kind's keys to that kind."""

from __future__ import annotations

import itertools
import math
from dataclasses import replace
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BeforeValidator, Field, ValidationInfo, model_validator

from readiness.chaos.faults import Fault, Window, WindowField
from readiness.config.subscribe import SubscribeConfig
from readiness.config.thresholds import Threshold, parse_threshold
from readiness.config.types import (
    ConfigModel,
    Duration,
    Integer,
    Name,
    Number,
    Rate,
    Size,
    invalid,
)
from readiness.config.types import Ratio as Fraction
from readiness.config.workload import WorkloadConfig
from readiness.errors import ConfigError

_THRESHOLD_KEYS = ("check", "critical", "weight")
# Each virtual user is a task with its own buffers: a typo such as 10**12 must be refused
# here rather than exhaust memory once the load starts.
MAX_CONCURRENCY = 100_000
# results.json holds counts as 64-bit integers; a request count past that cannot be written.
MAX_REQUESTS = 2**63 - 1
# Ten times what one generator process sends (about 10k/s): a typo such as 1e30 must be
# refused here, not leave the load walking an endless schedule of arrivals.
MAX_RATE = 100_000.0


def _threshold(value: object) -> Threshold:
    """A threshold string, or a table `{ check = "p99 < 300ms", critical = true, weight = 2 }`."""
    if isinstance(value, Threshold):
        return value
    if isinstance(value, dict):
        return _threshold_table(value)
    try:
        return parse_threshold(value)  # type: ignore[arg-type]  # it reports non-strings itself
    except ConfigError as exc:
        raise invalid(exc.message) from None


def _threshold_table(table: dict[str, object]) -> Threshold:
    for key in table:
        if key not in _THRESHOLD_KEYS:
            raise invalid(
                f"unknown key {key!r} in a threshold table;"
                f" it may hold {', '.join(_THRESHOLD_KEYS)}"
            )
    if "check" not in table:
        raise invalid('a threshold table needs check, e.g. { check = "p99 < 300ms" }')
    critical = table.get("critical", False)
    if not isinstance(critical, bool):
        raise invalid(f"critical is true or false, not {critical!r}")
    weight = table.get("weight", 1.0)
    if isinstance(weight, bool) or not isinstance(weight, int | float) or not 0 < weight < math.inf:
        raise invalid(f"weight is a number above 0, not {weight!r}")
    try:
        parsed = parse_threshold(table["check"])  # type: ignore[arg-type]
    except ConfigError as exc:
        raise invalid(exc.message) from None
    return replace(parsed, critical=critical, weight=float(weight))


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
    concurrency: Annotated[Integer, Field(ge=1, le=MAX_CONCURRENCY)] | None = None
    requests: Annotated[Integer, Field(ge=1, le=MAX_REQUESTS)] | None = None
    duration: Annotated[Duration, Field(gt=0)] | None = None
    think_time: Annotated[Duration, Field(ge=0)] = 0.0
    rate: Annotated[Rate, Field(gt=0, le=MAX_RATE)] | None = None
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
        if self.model == "open":
            for i, stage in enumerate(self.stages):
                if stage.target > MAX_RATE:
                    raise invalid(
                        f"must be at most {MAX_RATE:g} per second, got {stage.target:g}",
                        "stages",
                        i,
                        "target",
                    )
        if self.model == "closed":
            for i, stage in enumerate(self.stages):
                if not stage.target.is_integer():
                    raise invalid(
                        "a closed-model stage targets a whole concurrency", "stages", i, "target"
                    )
                if stage.target > MAX_CONCURRENCY:
                    raise invalid(
                        f"must be at most {MAX_CONCURRENCY} virtual users, got {stage.target:g}",
                        "stages",
                        i,
                        "target",
                    )
        return self

    def bounded(self) -> bool:
        """Whether the load ends by itself (a replay's capture bounds it too: see the scenario)."""
        return self.requests is not None or self.duration is not None or bool(self.stages)

    def planned_duration(self) -> float | None:
        """Seconds the schedule runs for, when bounded by time rather than count."""
        if self.stages:
            return sum(stage.duration for stage in self.stages)
        return self.duration


ScenarioKind = Literal[
    "throughput",
    "scaling",
    "memory",
    "payload",
    "failure",
    "recovery",
    "overload",
    "pool",
    "security",
    "subscriptions",
]
ProbeClass = Literal["schema", "injection", "protocol", "http"]
PROBE_CLASSES: tuple[ProbeClass, ...] = ("schema", "injection", "protocol", "http")
PayloadDirection = Literal["result", "argument", "both"]
# overload without capacity probes from these rates (per second) up, each for
# OVERLOAD_PROBE_STEP_S unless step_duration is given: past the last it doubles until a rate
# does not keep up, then bisects until the rate that kept up and the one that did not are within
# OVERLOAD_PROBE_RESOLUTION of each other; never above max_rate. The load then opens with at
# least OVERLOAD_MIN_STEADY_S of steady load.
OVERLOAD_PROBE_RATES = (50.0,)
OVERLOAD_PROBE_STEP_S = 2.0
OVERLOAD_PROBE_RESOLUTION = 0.25
# Far above what one generator core drives against an MCP server (a few thousand calls/s), so
# the generator's own limit normally stops the probe first; a ceiling for a server to protect.
OVERLOAD_MAX_RATE = 10_000.0
OVERLOAD_MIN_STEADY_S = 2.0
# Kinds whose load is `load`, time-bounded for the chaos kinds (faults are placed in time).
# A validation-context key: the suite's own workload replays a capture (set as it validates).
SUITE_REPLAYS = "suite_workload_replays"
_NEEDS_LOAD = ("throughput", "memory", "failure", "recovery")
_TIMED = ("memory", "failure", "recovery")


_MOVED_TO_TARGET_POOL = {"pool_size": "size", "pool_timeout": "wait_timeout"}


class ScenarioConfig(ConfigModel):
    """A named test. `throughput` runs `load`; `scaling` climbs a ladder of `steps`; `memory`
    soaks and judges growth; `payload` climbs a ladder of sizes; `failure` and `recovery` inject
    `faults` into a steady `load` during `inject`; `overload` ramps an open load past capacity
    and back; `pool` has many more virtual users share the sessions of its target's pool
    ([targets.resilience.pool])."""

    name: Name
    kind: ScenarioKind
    target: str | None = None  # None: every target
    # the fleet's targets this scenario runs against (None: every target); `target` is one
    targets: Annotated[tuple[Name, ...], Field(min_length=1)] | None = None
    load: LoadConfig | None = None
    workload: WorkloadConfig | None = None
    thresholds: tuple[Annotated[Threshold, BeforeValidator(_threshold)], ...] = ()
    # a wall-clock bound on the whole scenario: when it passes, what was measured is kept,
    # marked partial, and the run goes on with the next scenario
    timeout: Annotated[Duration, Field(gt=0)] | None = None
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
    concurrency: Annotated[int, Field(ge=1, le=MAX_CONCURRENCY, strict=True)] = 2
    result_tool: str = "blob"  # called with {result_argument: size in KiB}
    result_argument: str = "kb"
    argument_tool: str = "echo"  # called with {argument_name: a string of the size}
    argument_name: str = "text"
    # failure and recovery: faults act during `inject` (seconds since the measured load
    # started); a fault's own `during` overrides it. Defaults are chosen per kind and target.
    faults: tuple[Fault, ...] = ()
    inject: WindowField | None = None
    # recovery and overload: recovered once throughput and p95 are back within
    # recovery_tolerance of the steady state for recovery_window
    recovery_tolerance: Annotated[Fraction, Field(gt=0)] = 0.5
    recovery_window: Annotated[Duration, Field(gt=0)] = 2.0
    # overload: an open load ramped to capacity × overload_factor, held, then dropped back;
    # without capacity, a probe from `steps` (rates) up, doubling then bisecting, finds it
    capacity: Annotated[Rate, Field(gt=0)] | None = None
    # the highest rate the probe and the load ever offer
    max_rate: Annotated[Rate, Field(gt=0)] = OVERLOAD_MAX_RATE
    overload_factor: Annotated[Fraction, Field(gt=1)] = 2.0
    ramp: Annotated[Duration, Field(gt=0)] = 5.0
    hold: Annotated[Duration, Field(gt=0)] = 5.0
    cooldown: Annotated[Duration, Field(gt=0)] = 10.0
    # security: hostile-client probes, non-destructive, paced and capped; the server is
    # checked alive after every batch and the scenario stops if it died
    probe_rate: Annotated[Rate, Field(gt=0)] = 50.0
    max_probes: Annotated[Integer, Field(ge=1)] = 2000
    probe_timeout: Annotated[Duration, Field(gt=0)] = 5.0
    allow_destructive: bool = False
    probe_classes: tuple[ProbeClass, ...] = PROBE_CLASSES
    huge_strings: tuple[Annotated[Size, Field(gt=0)], ...] = (1024 * 1024, 16 * 1024 * 1024)
    # subscriptions: sessions subscribe to a resource, a tool call changes it, every update
    # should reach every subscriber
    subscribe: SubscribeConfig | None = None

    # field → the kinds it applies to
    _ONLY: ClassVar[dict[str, tuple[str, ...]]] = {
        "steps": ("scaling", "overload"),
        "step_model": ("scaling",),
        "step_duration": ("scaling", "overload"),
        "knee_growth": ("scaling",),
        "knee_p95": ("scaling",),
        "settle": ("memory",),
        "sample_interval": ("memory",),
        "leak_threshold": ("memory",),
        "leak_min_growth": ("memory",),
        "sizes": ("payload",),
        "direction": ("payload",),
        "requests_per_size": ("payload",),
        "concurrency": ("payload",),
        "result_tool": ("payload",),
        "result_argument": ("payload",),
        "argument_tool": ("payload",),
        "argument_name": ("payload",),
        "faults": ("failure", "recovery"),
        "inject": ("failure", "recovery"),
        "recovery_tolerance": ("recovery", "overload"),
        "recovery_window": ("recovery", "overload"),
        "capacity": ("overload",),
        "max_rate": ("overload",),
        "overload_factor": ("overload",),
        "ramp": ("overload",),
        "hold": ("overload",),
        "cooldown": ("overload",),
        "probe_rate": ("security",),
        "max_probes": ("security",),
        "probe_timeout": ("security",),
        "allow_destructive": ("security",),
        "probe_classes": ("security",),
        "huge_strings": ("security",),
        "subscribe": ("subscriptions",),
    }

    @model_validator(mode="before")
    @classmethod
    def _pool_moved(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for old, new in _MOVED_TO_TARGET_POOL.items():
                if old in data:
                    raise invalid(
                        f"{old} has moved to the target, so that any scenario can use a pool:"
                        f" write it as {new} under [targets.resilience.pool]",
                        old,
                    )
        return data

    def target_names(self) -> tuple[str, ...] | None:
        """The targets this scenario names (`target` or `targets`); None: every target."""
        if self.targets is not None:
            return self.targets
        return None if self.target is None else (self.target,)

    @model_validator(mode="after")
    def _kind_needs(self, info: ValidationInfo) -> ScenarioConfig:
        if self.target is not None and self.targets is not None:
            raise invalid('give target = "…" or targets = […], not both', "targets")
        for field, kinds in self._ONLY.items():
            if self.kind not in kinds and field in self.model_fields_set:
                shown = " or ".join(f'"{k}"' for k in kinds)
                raise invalid(f"{field} applies to kind = {shown} only", field)
        context = info.context if isinstance(info.context, dict) else {}
        suite_replays = bool(context.get(SUITE_REPLAYS))
        if self.load is not None and not self.load.bounded() and not self._replays(suite_replays):
            raise invalid(
                "the load is unbounded: give requests, duration or stages", "load", "requests"
            )
        if self.kind in _NEEDS_LOAD:
            self._check_load(suite_replays)
        elif self.kind == "payload":
            self._check_payload()
        elif self.kind == "scaling":
            self._check_steps()
        elif self.kind == "overload":
            if self.load is not None:
                raise invalid(
                    "an overload scenario sets its load with capacity (or steps to probe it),"
                    " overload_factor, ramp, hold and cooldown",
                    "load",
                )
            if self.capacity is not None and self.steps:
                raise invalid("give capacity or steps to probe for it, not both", "steps")
            self._check_steps()
            self._check_max_rate()
        elif self.kind == "subscriptions":
            if self.subscribe is None:
                raise invalid(
                    'a subscriptions scenario needs [scenarios.subscribe]: uri = "…" and'
                    ' trigger = { tool = "…" }',
                    "subscribe",
                )
            if self.load is not None:
                raise invalid(
                    "a subscriptions scenario sets its load with [scenarios.subscribe]"
                    " (sessions, updates, interval)",
                    "load",
                )
        elif self.kind == "security" and self.load is not None:
            raise invalid(
                "a security scenario sets its pace with probe_rate and max_probes", "load"
            )
        elif self.kind == "pool" and self.load is not None and self.load.model != "closed":
            raise invalid("a pool scenario runs virtual users: use the closed model", "load")
        if self.kind in ("failure", "recovery"):
            self._check_windows()
        return self

    def _replays(self, suite_replays: bool) -> bool:
        """A throughput scenario replaying a capture: the capture bounds its load."""
        replays = self.workload.replay is not None if self.workload else suite_replays
        return self.kind == "throughput" and replays

    def _check_load(self, suite_replays: bool) -> None:
        if self.load is None and self._replays(suite_replays):
            return  # a replay is its own load
        if self.load is None:
            raise invalid(
                f"a {self.kind} scenario needs load,"
                ' e.g. load = { concurrency = 10, duration = "30s" }',
                "load",
            )
        planned = self.load.planned_duration()
        if planned is not None and self.warmup >= planned:
            raise invalid("warmup must be shorter than the load's duration", "warmup")
        if self.kind in _TIMED and planned is None:
            example = '"10m"' if self.kind == "memory" else '"20s"'
            raise invalid(
                f"a {self.kind} scenario runs for a time: give load.duration, e.g. {example}",
                "load",
            )

    def _check_payload(self) -> None:
        if self.load is not None:
            raise invalid(
                "a payload scenario sets its load with sizes, requests_per_size and concurrency",
                "load",
            )
        if not self.sizes:
            raise invalid('a payload scenario needs sizes, e.g. sizes = ["1KiB", "1MiB"]', "sizes")
        for i, (small, big) in enumerate(zip(self.sizes, self.sizes[1:], strict=False)):
            if big <= small:
                raise invalid("sizes must increase", "sizes", i + 1)

    def _check_steps(self) -> None:
        if self.kind == "scaling":
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
                raise invalid(f"steps must increase, but {high:g} follows {low:g}", "steps", i + 1)
        if self.kind == "scaling" and self.step_model == "closed":
            for i, step in enumerate(self.steps):
                if not step.is_integer():
                    raise invalid("closed-model steps are whole concurrencies", "steps", i)
                if step > MAX_CONCURRENCY:
                    raise invalid(
                        f"must be at most {MAX_CONCURRENCY} virtual users, got {step:g}", "steps", i
                    )
        if self.warmup >= self.step_duration:
            raise invalid("warmup must be shorter than step_duration", "warmup")

    def _check_max_rate(self) -> None:
        """Every rate the scenario offers stays at or below max_rate."""
        given = "max_rate" in self.model_fields_set
        ceiling = f"max_rate ({self.max_rate:,g}/s{'' if given else ', the default'})"
        if self.capacity is not None and self.capacity >= self.max_rate:
            raise invalid(
                f"capacity {self.capacity:,g}/s leaves no room to overload below {ceiling};"
                " raise max_rate or lower capacity",
                *(("max_rate",) if given else ("capacity",)),
            )
        for i, step in enumerate(self.steps):
            if step > self.max_rate:
                raise invalid(
                    f"the probe step {step:,g}/s is above {ceiling}",
                    *(("max_rate",) if given else ("steps", i)),
                )

    def _check_windows(self) -> None:
        """Every window must fall inside the measured load, or the fault would never act."""
        assert self.load is not None
        length = (self.load.planned_duration() or 0.0) - self.warmup
        windows: list[tuple[Window, tuple[str | int, ...]]] = []
        if self.inject is not None:
            windows.append((self.inject, ("inject",)))
        windows += [
            (f.during, ("faults", i, "during")) for i, f in enumerate(self.faults) if f.during
        ]
        for window, key in windows:
            if window.start >= length or (math.isfinite(window.end) and window.end > length):
                raise invalid(
                    f"the window {window} is not inside the measured load, which runs"
                    f" {length:g}s (after warm-up); windows count from its start",
                    *key,
                )

    def injection_window(self) -> Window:
        """When the faults act: `inject` if given, else this kind's default within the load —
        the middle third for failure, from a third of the way on for recovery."""
        if self.inject is not None:
            return self.inject
        assert self.load is not None
        length = (self.load.planned_duration() or 0.0) - self.warmup
        third = round(length / 3, 1)
        if self.kind == "failure":
            return Window(third, round(2 * length / 3, 1))
        return Window(third, math.inf)

    def probe_rates(self) -> tuple[float, ...]:
        """overload without capacity: the rates its probe starts with, per second (it doubles
        past the last while they keep up)."""
        return self.steps or OVERLOAD_PROBE_RATES

    def probe_step_bound(self) -> int:
        """overload without capacity: the most steps its probe can take — the rates given,
        the doublings from the last up to max_rate, then the bisections down to the
        resolution across the widest gap between a rate that kept up and the next."""
        rates = [r for r in self.probe_rates() if r <= self.max_rate]
        doublings = max(math.ceil(math.log2(self.max_rate / rates[-1]) - 1e-9), 0)
        widest = max([2.0, *(b / a for a, b in itertools.pairwise(rates))])
        bisections = max(math.ceil(math.log2((widest - 1) / OVERLOAD_PROBE_RESOLUTION) - 1e-9), 0)
        return len(rates) + doublings + bisections

    def probe_step_s(self) -> float:
        """overload without capacity: how long each probe rate runs."""
        given = "step_duration" in self.model_fields_set
        return self.step_duration if given else OVERLOAD_PROBE_STEP_S

    def planned_duration(self) -> float | None:
        """Seconds of load the scenario plans (warm-up included); None when bounded by count
        or (overload without capacity) found by a probe first."""
        if self.kind == "scaling":
            return len(self.steps) * self.step_duration
        if self.kind == "overload":
            probe = 0.0
            if self.capacity is None:
                probe = self.probe_step_bound() * self.probe_step_s()
            steady = max(self.recovery_window, OVERLOAD_MIN_STEADY_S)
            return probe + steady + self.ramp + self.hold + self.cooldown
        return self.load.planned_duration() if self.load else None
