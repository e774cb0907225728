"""The scaling scenario: `find_knee` as a pure function of constructed ladders, and short ladders
run against the real demo server, checked for their shape (never for how fast this machine is)."""

from __future__ import annotations

import itertools
import math
import sys
import textwrap
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Literal

import anyio
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from readiness.engine.progress import Progress
from readiness.metrics.histogram import LatencyHistogram
from readiness.results import ErrorCounts, LatencySummary, ScalingStep, ScenarioResult, Totals
from readiness.scenarios.scaling import find_knee, run_scaling
from tests.suites import scenario_context

Model = Literal["closed", "open"]


def step(
    index: int,
    level: float,
    rps: float,
    *,
    p95_ms: float | None = 1.0,
    model: Model = "closed",
) -> ScalingStep:
    """A step as `run_scaling` records it; only level, throughput and p95 matter to the knee."""
    ok = round(rps)
    totals = Totals(
        sent=ok,
        ok=ok,
        errors=ErrorCounts(tool_error=0, rpc_error=0, timeout=0, transport=0),
        rpc_error_codes={},
        rejected=0,
        late=0,
        dropped=0,
        cancelled=0,
        success_rate=1.0 if ok else None,
        error_rate=0.0 if ok else None,
        throughput_rps=rps,
    )
    latency = LatencySummary(
        count=ok, p50=p95_ms, p90=p95_ms, p95=p95_ms, p99=p95_ms, p999=p95_ms, max=p95_ms, mean=None
    )
    return ScalingStep(
        index=index,
        model=model,
        level=level,
        duration_s=1.0,
        totals=totals,
        latency_ms=latency,
        efficiency=None,
        histogram="",
    )


def ladder(
    levels: Sequence[float],
    rps: Sequence[float],
    p95_ms: Sequence[float | None] | None = None,
    model: Model = "closed",
) -> list[ScalingStep]:
    p95s = p95_ms if p95_ms is not None else [1.0] * len(levels)
    return [
        step(i, level, r, p95_ms=p, model=model)
        for i, (level, r, p) in enumerate(zip(levels, rps, p95s, strict=True))
    ]


LEVELS = [1.0, 2.0, 4.0, 8.0, 16.0]


# --- find_knee on constructed ladders ---------------------------------------------------------


def test_the_knee_is_the_last_step_before_throughput_stops_growing() -> None:
    knee = find_knee(ladder(LEVELS, [100, 200, 390, 420, 425]), growth=0.10, p95_limit_s=None)
    assert (knee["knee_index"], knee["knee_level"]) == (2, 4.0)
    assert knee["knee_reason"] == (
        "throughput grew 7.7% from concurrency 4 (390/s) to 8 (420/s), "
        "less than the 10% a step must add"
    )
    assert (knee["peak_throughput_rps"], knee["peak_level"]) == (425, 16.0)


def test_a_linear_ladder_has_its_knee_beyond_the_last_step() -> None:
    knee = find_knee(ladder(LEVELS, [150 * lv for lv in LEVELS]), growth=0.10, p95_limit_s=None)
    assert (knee["knee_index"], knee["knee_level"]) == (4, 16.0)
    assert knee["knee_reason"] == (
        "throughput still grew at the last step (concurrency 16); the knee lies beyond the ladder"
    )
    assert (knee["peak_throughput_rps"], knee["peak_level"]) == (2400, 16.0)


def test_a_flat_ladder_has_its_knee_at_the_first_step_and_its_peak_there_too() -> None:
    knee = find_knee(ladder(LEVELS, [500] * 5), growth=0.10, p95_limit_s=None)
    assert (knee["knee_index"], knee["knee_level"]) == (0, 1.0)
    assert knee["knee_reason"].startswith("throughput grew 0.0% from concurrency 1 (500/s)")
    assert (knee["peak_throughput_rps"], knee["peak_level"]) == (500, 1.0)  # the first of equals


def test_noise_after_the_first_stall_does_not_move_the_knee() -> None:
    # A dip, then growth again: the knee is where growth first stopped, the peak is later.
    knee = find_knee(ladder(LEVELS, [100, 200, 190, 400, 380]), growth=0.10, p95_limit_s=None)
    assert (knee["knee_index"], knee["knee_level"]) == (1, 2.0)
    assert "grew -5.0% from concurrency 2 (200/s) to 4 (190/s)" in knee["knee_reason"]
    assert (knee["peak_throughput_rps"], knee["peak_level"]) == (400, 8.0)


def test_a_single_step_is_its_own_knee_with_nothing_to_compare() -> None:
    knee = find_knee(ladder([10.0], [300]), growth=0.10, p95_limit_s=0.001)
    assert (knee["knee_index"], knee["knee_level"]) == (0, 10.0)
    assert "the knee lies beyond the ladder" in knee["knee_reason"]
    assert (knee["peak_throughput_rps"], knee["peak_level"]) == (300, 10.0)


def test_no_steps_have_no_knee_and_say_why() -> None:
    knee = find_knee([], growth=0.10, p95_limit_s=None)
    assert knee == {
        "knee_index": None,
        "knee_level": None,
        "knee_reason": "no step completed",
        "peak_throughput_rps": None,
        "peak_level": None,
    }


def test_a_step_that_adds_exactly_the_required_growth_still_counts() -> None:
    knee = find_knee(ladder([1.0, 2.0], [100, 125]), growth=0.25, p95_limit_s=None)
    assert knee["knee_index"] == 1


def test_growth_from_zero_throughput_counts_and_zero_to_zero_does_not() -> None:
    assert find_knee(ladder([1.0, 2.0], [0, 10]), growth=0.5, p95_limit_s=None)["knee_index"] == 1
    stalled = find_knee(ladder([1.0, 2.0], [0, 0]), growth=0.5, p95_limit_s=None)
    assert stalled["knee_index"] == 0
    assert stalled["peak_throughput_rps"] == 0


def test_a_step_over_the_p95_limit_ends_the_ladder_even_while_throughput_grows() -> None:
    steps = ladder(LEVELS, [100, 200, 400, 800, 1600], p95_ms=[2, 5, 40, 250, 900])
    knee = find_knee(steps, growth=0.10, p95_limit_s=0.2)
    assert (knee["knee_index"], knee["knee_level"]) == (2, 4.0)
    assert knee["knee_reason"] == "p95 at concurrency 8 was 250.0 ms, over the 200 ms limit"
    assert knee["peak_level"] == 16.0  # the peak is reported whatever the limit


def test_a_step_with_no_successful_request_has_no_p95_and_fails_a_p95_limit() -> None:
    steps = ladder([1.0, 2.0], [100, 0], p95_ms=[3.0, None])
    knee = find_knee(steps, growth=0.10, p95_limit_s=0.5)
    assert knee["knee_index"] == 0
    assert knee["knee_reason"] == "p95 at concurrency 2 was —, over the 500 ms limit"


def test_an_open_ladder_speaks_of_rates() -> None:
    steps = ladder([50.0, 100.0, 200.0], [50, 100, 104], model="open")
    knee = find_knee(steps, growth=0.10, p95_limit_s=None)
    assert knee["knee_level"] == 100.0
    assert knee["knee_reason"].startswith("throughput grew 4.0% from rate 100 (100/s) to 200")


# --- find_knee properties ---------------------------------------------------------------------

# Zero or a rate far from underflow: scaling a subnormal rate could turn it into zero.
throughputs = st.lists(
    st.one_of(st.just(0.0), st.floats(1e-3, 1e6, allow_nan=False)), min_size=1, max_size=12
)
growths = st.floats(0, 2, allow_nan=False)
p95_limits = st.one_of(st.none(), st.floats(1e-3, 10, allow_nan=False))


@st.composite
def ladders(draw: st.DrawFn) -> list[ScalingStep]:
    rps = draw(throughputs)
    p95s = draw(
        st.lists(
            st.one_of(st.none(), st.floats(0.01, 20_000, allow_nan=False)),
            min_size=len(rps),
            max_size=len(rps),
        )
    )
    return ladder([float(2**i) for i in range(len(rps))], rps, p95s)


def grew(before: float, after: float, growth: float) -> bool:
    gain = (after / before - 1.0) if before > 0 else (1.0 if after > 0 else 0.0)
    return gain >= growth


def held(step: ScalingStep, limit_s: float | None) -> bool:
    p95 = step["latency_ms"]["p95"]
    return limit_s is None or (p95 is not None and p95 / 1000.0 <= limit_s)


@given(steps=ladders(), growth=growths, limit=p95_limits)
def test_the_knee_is_a_step_every_step_up_to_it_grew_and_the_next_one_did_not(
    steps: list[ScalingStep], growth: float, limit: float | None
) -> None:
    knee = find_knee(steps, growth=growth, p95_limit_s=limit)
    k = knee["knee_index"]
    assert k is not None
    assert 0 <= k < len(steps)
    assert knee["knee_level"] == steps[k]["level"]
    rps = [s["totals"]["throughput_rps"] for s in steps]
    for i in range(1, k + 1):
        assert grew(rps[i - 1], rps[i], growth)
        assert held(steps[i], limit)
    if k + 1 < len(steps):
        assert not (grew(rps[k], rps[k + 1], growth) and held(steps[k + 1], limit))
    else:
        assert "beyond the ladder" in knee["knee_reason"]
    assert knee["peak_throughput_rps"] == max(rps)
    assert knee["peak_level"] == steps[rps.index(max(rps))]["level"]


@given(steps=ladders(), more=ladders(), growth=growths, limit=p95_limits)
def test_adding_steps_never_moves_the_knee_earlier_nor_past_a_stall(
    steps: list[ScalingStep], more: list[ScalingStep], growth: float, limit: float | None
) -> None:
    longer = [*steps, *more]
    before = find_knee(steps, growth=growth, p95_limit_s=limit)["knee_index"]
    after = find_knee(longer, growth=growth, p95_limit_s=limit)["knee_index"]
    assert before is not None
    assert after is not None
    assert after >= before
    if before < len(steps) - 1:  # growth already stopped inside the shorter ladder
        assert after == before


@given(steps=ladders(), growth=growths, limit=p95_limits)
def test_a_step_added_past_the_end_with_lower_throughput_keeps_the_knee(
    steps: list[ScalingStep], growth: float, limit: float | None
) -> None:
    last = steps[-1]
    worse = step(len(steps), last["level"] * 2, last["totals"]["throughput_rps"] * 0.9)
    assume(growth > 0 or last["totals"]["throughput_rps"] > 0)  # 0 → 0 "grows" by 0 ≥ 0
    before = find_knee(steps, growth=growth, p95_limit_s=limit)
    after = find_knee([*steps, worse], growth=growth, p95_limit_s=limit)
    assert after["knee_index"] == before["knee_index"]


@given(
    steps=ladders(),
    scale=st.floats(1e-3, 1e3, allow_nan=False),
    growth=growths,
    limit=p95_limits,
)
def test_the_knee_depends_on_relative_growth_not_on_the_units_of_throughput(
    steps: list[ScalingStep], scale: float, growth: float, limit: float | None
) -> None:
    scaled = [
        step(
            s["index"],
            s["level"],
            s["totals"]["throughput_rps"] * scale,
            p95_ms=s["latency_ms"]["p95"],
        )
        for s in steps
    ]
    # Gains exactly on the boundary may round either way once scaled.
    rps = [s["totals"]["throughput_rps"] for s in steps]
    for before, after in itertools.pairwise(rps):
        if before > 0:
            assume(not math.isclose(after / before - 1.0, growth, rel_tol=1e-9, abs_tol=1e-12))
    original = find_knee(steps, growth=growth, p95_limit_s=limit)["knee_index"]
    assert find_knee(scaled, growth=growth, p95_limit_s=limit)["knee_index"] == original


@given(steps=ladders(), low=growths, high=growths, limit=p95_limits)
def test_asking_for_more_growth_or_a_tighter_p95_never_moves_the_knee_later(
    steps: list[ScalingStep], low: float, high: float, limit: float | None
) -> None:
    low, high = sorted((low, high))
    lenient = find_knee(steps, growth=low, p95_limit_s=limit)["knee_index"]
    strict = find_knee(steps, growth=high, p95_limit_s=limit)["knee_index"]
    assert lenient is not None
    assert strict is not None
    assert strict <= lenient
    unlimited = find_knee(steps, growth=low, p95_limit_s=None)["knee_index"]
    assert unlimited is not None
    assert lenient <= unlimited


# --- the scenario against the demo server -----------------------------------------------------

STEP_S = 1.0  # each step runs this long: the shape of the result, not a speed, is under test


def scaling_suite(steps: Sequence[float], *, model: Model = "closed", extra: str = "") -> str:
    levels = ", ".join(f"{s:g}" for s in steps)
    return textwrap.dedent(
        f"""\
        [[targets]]
        name = "demo"
        transport = "stdio"
        command = "{sys.executable}"
        args = ["-m", "readiness.demo"]

        [[scenarios]]
        name = "scaling"
        kind = "scaling"
        steps = [{levels}]
        step_model = "{model}"
        step_duration = "{STEP_S:g}s"
        """
    ) + textwrap.dedent(extra)


async def climb(tmp_path: Path, text: str) -> ScenarioResult:
    with anyio.fail_after(60):
        return await run_scaling(scenario_context(tmp_path, text))


def failures(totals: Totals) -> int:
    e = totals["errors"]
    return e["tool_error"] + e["rpc_error"] + e["timeout"] + e["transport"]


def counts(totals: Totals) -> tuple[int, ...]:
    failed = failures(totals)
    return (
        totals["sent"],
        totals["ok"],
        failed,
        totals["rejected"],
        totals["late"],
        totals["dropped"],
        totals["cancelled"],
    )


def assert_steps_add_up_to_the_totals(result: ScenarioResult) -> None:
    steps = result["steps"]
    summed = tuple(
        sum(column) for column in zip(*(counts(s["totals"]) for s in steps), strict=True)
    )
    assert summed == counts(result["totals"])
    for s in steps:
        totals = s["totals"]
        failed = failures(totals)
        assert totals["sent"] == totals["ok"] + failed + totals["rejected"] + totals["cancelled"]
        histogram = LatencyHistogram.decode(s["histogram"])
        assert histogram.count == s["latency_ms"]["count"] == totals["ok"]


def assert_efficiency_is_per_unit_throughput_relative_to_the_first_step(
    steps: Sequence[ScalingStep],
) -> None:
    first = steps[0]["totals"]["throughput_rps"] / steps[0]["level"]
    assert steps[0]["efficiency"] == 1.0
    for s in steps[1:]:
        per_unit = s["totals"]["throughput_rps"] / s["level"]
        assert s["efficiency"] == pytest.approx(per_unit / first)


@pytest.mark.anyio
async def test_a_closed_ladder_records_one_step_per_level_in_order(tmp_path: Path) -> None:
    levels = [1.0, 2.0, 4.0]
    result = await climb(tmp_path, scaling_suite(levels))

    assert result["status"] == "passed", result["checks"]
    assert not result["partial"]
    assert result["load"] == {"model": "closed", "steps": levels, "step_duration": STEP_S}
    steps = result["steps"]
    assert [s["index"] for s in steps] == [0, 1, 2]
    assert [s["level"] for s in steps] == levels
    assert {s["model"] for s in steps} == {"closed"}
    assert all(s["totals"]["ok"] > 0 for s in steps)
    assert all(failures(s["totals"]) == 0 for s in steps)
    assert all(s["duration_s"] > 0 for s in steps)
    assert_steps_add_up_to_the_totals(result)
    assert_efficiency_is_per_unit_throughput_relative_to_the_first_step(steps)
    # The summary is find_knee of the recorded steps with the configured knee settings.
    assert result["scaling"] == find_knee(steps, growth=0.10, p95_limit_s=None)
    assert result["method"]["model"] == "closed"


@pytest.mark.anyio
async def test_an_open_ladder_offers_each_rate_for_the_step_duration(tmp_path: Path) -> None:
    rates = [20.0, 40.0]
    text = scaling_suite(rates, model="open", extra='knee_growth = "50%"\nknee_p95 = "10s"\n')
    result = await climb(tmp_path, text)

    assert result["status"] == "passed", result["checks"]
    steps = result["steps"]
    assert [(s["index"], s["level"], s["model"]) for s in steps] == [
        (0, 20.0, "open"),
        (1, 40.0, "open"),
    ]
    # The schedule, not the server, fixes how many requests each step offers.
    assert [s["totals"]["sent"] + s["totals"]["dropped"] for s in steps] == [
        round(rate * STEP_S) for rate in rates
    ]
    assert_steps_add_up_to_the_totals(result)
    assert_efficiency_is_per_unit_throughput_relative_to_the_first_step(steps)
    assert result["scaling"] == find_knee(steps, growth=0.5, p95_limit_s=10.0)
    assert result["method"]["model"] == "open"


@pytest.mark.anyio
async def test_an_interrupt_during_a_step_keeps_the_steps_so_far_and_marks_the_run_partial(
    tmp_path: Path,
) -> None:
    # Progress ticks once a second of a step's load, so a step of 1.5 s ticks while it runs.
    text = scaling_suite([1.0, 2.0, 4.0]).replace(f'"{STEP_S:g}s"', '"1.5s"')
    interrupt = anyio.Event()
    ticks: list[Progress] = []

    def interrupt_in_step_two(progress: Progress) -> None:
        ticks.append(progress)
        if progress.phase.startswith("step 2/3"):
            interrupt.set()

    ctx = replace(
        scenario_context(tmp_path, text, on_progress=interrupt_in_step_two), interrupt=interrupt
    )
    with anyio.fail_after(60):
        result = await run_scaling(ctx)

    assert interrupt.is_set()
    assert result["partial"]
    assert [s["level"] for s in result["steps"]] == [1.0, 2.0]
    assert not any(t.phase.startswith("step 3/3") for t in ticks)
    assert_steps_add_up_to_the_totals(result)
    assert result["scaling"]["knee_index"] in (0, 1)


@pytest.mark.anyio
async def test_a_run_interrupted_before_its_first_step_has_no_steps_and_no_knee(
    tmp_path: Path,
) -> None:
    interrupt = anyio.Event()
    ctx = replace(
        scenario_context(tmp_path, scaling_suite([1.0, 2.0])),
        interrupt=interrupt,
        on_connected=lambda _: interrupt.set(),
    )
    with anyio.fail_after(60):
        result = await run_scaling(ctx)

    assert result["partial"]
    assert result["steps"] == []
    assert result["totals"]["sent"] == 0
    assert result["scaling"]["knee_index"] is None
    assert result["scaling"]["knee_reason"] == "no step completed"
